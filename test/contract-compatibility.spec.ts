import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const ADMIN_PROTO = 'proto/mailgateway/v1/admin.proto';
const MAIL_PROTO = 'proto/mailgateway/v1/mail_gateway.proto';

/** The contract check (scripts/check-contract.js) on a copy of buf.yaml and proto/, after `edit`. */
function checkEditedCopy(edit: (workspace: string) => void = () => undefined) {
  const workspace = mkdtempSync(join(tmpdir(), 'mailgateway-contract-'));
  try {
    cpSync(join(ROOT, 'buf.yaml'), join(workspace, 'buf.yaml'));
    cpSync(join(ROOT, 'proto'), join(workspace, 'proto'), { recursive: true });
    edit(workspace);
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts/check-contract.js'), workspace], {
      encoding: 'utf8',
    });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

function replaceIn(workspace: string, file: string, from: string, to: string): void {
  const path = join(workspace, file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} no longer holds ${JSON.stringify(from)}`);
  writeFileSync(path, text.replace(from, to));
}

describe('the contract check against the landed contract', () => {
  it('passes the contract as it stands', () => {
    const { status, output } = checkEditedCopy();
    expect({ status, output }).toEqual({ status: 0, output: '' });
  });

  it('passes a change of comments only', () => {
    const { status } = checkEditedCopy((workspace) =>
      replaceIn(workspace, MAIL_PROTO, '// What happened.\n', '// What happened, as a type.\n'),
    );
    expect(status).toBe(0);
  });

  it('fails a renumbered field, naming it', () => {
    const { status, output } = checkEditedCopy((workspace) =>
      replaceIn(workspace, ADMIN_PROTO, 'uint64 overlap_seconds = 2;', 'uint64 overlap_seconds = 4;'),
    );
    expect(status).not.toBe(0);
    expect(output).toContain(
      'Previously present field "2" with name "overlap_seconds" on message "RotateApiKeyRequest" was deleted.',
    );
    expect(output).toContain('breaking change against the landed contract');
  });

  it('fails a removed field, naming it', () => {
    const { status, output } = checkEditedCopy((workspace) =>
      replaceIn(workspace, MAIL_PROTO, '  string detail = 5;\n', ''),
    );
    expect(status).not.toBe(0);
    expect(output).toContain(
      'Previously present field "5" with name "detail" on message "MessageEvent" was deleted.',
    );
  });

  it('fails when the landed contract is not in the history, saying so', () => {
    const { status, output } = checkEditedCopy((workspace) =>
      writeFileSync(join(workspace, 'proto/landed-contract.ref'), `${'0'.repeat(40)}\n`),
    );
    expect(status).not.toBe(0);
    expect(output).toContain(`commit ${'0'.repeat(40)} is not in this clone's history`);
  });
});
