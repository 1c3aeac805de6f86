import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  GatewayProcess,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  saveCertificate,
  TestCertificateAuthority,
  TestDatabase,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';

const ROOT = join(__dirname, '..');
const CLI_MAIN = join(ROOT, 'dist/apps/cli/apps/cli/src/main.js');
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const KEY_PATTERN = /^mgw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
const NEW_KEY_NOTICE = "This key is shown only now; store it in the calling service's secret store.\n";
const NO_KEY_HINT = 'Set MAILGATEWAY_API_KEY (or --api-key) to a key; see "API keys" in the README.';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The 12 hex digits that name a key in listings and in `keys rotate|revoke`. */
const prefixOf = (key: string) => key.slice(4, 16);

/** The built CLI as a user runs it: MAILGATEWAY_ADDRESS and MAILGATEWAY_API_KEY, nothing else inherited. */
function runCli(args: string[], env: Readonly<Record<string, string>>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI_MAIN, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`mailgateway ${args.join(' ')} did not run (${error.message}): ${stderr}`));
        } else {
          resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
        }
      },
    );
  });
}

describe('The mailgateway CLI against a gateway process', () => {
  let database: TestDatabase;
  let gateway: GatewayProcess;
  let address: string;
  let scratch: string;
  /** Where the sandbox driver records each message it delivers. */
  let sandboxLog: string;

  /** Runs the CLI with `apiKey` (the admin key unless given; null: none) in the environment. */
  const cli = (args: string[], apiKey: string | null = TEST_API_KEY) =>
    runCli(args, { MAILGATEWAY_ADDRESS: address, ...(apiKey ? { MAILGATEWAY_API_KEY: apiKey } : {}) });

  /** Runs the CLI and expects it to succeed with nothing on stderr (or exactly `stderr`). */
  const cliOk = async (args: string[], apiKey?: string | null, stderr = '') => {
    const run = await cli(args, apiKey);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr });
    return run.stdout;
  };

  /** Creates a key for `source` with `keys create` and returns it. */
  const createKey = async (source: string) => {
    const key = (await cliOk(['keys', 'create', source], undefined, NEW_KEY_NOTICE)).trim();
    expect(key).toMatch(KEY_PATTERN);
    return key;
  };

  /** Sends one message with `key` and returns the message id. */
  const sendWith = async (key: string) => {
    const match = /^accepted (\S+) at /.exec(await cliOk(['send', '--to', 'x@example.com'], key));
    expect(match).not.toBeNull();
    return match![1];
  };

  beforeAll(async () => {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
    database = await provisionTestDatabase('sqlite');
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-cli-'));
    sandboxLog = join(scratch, 'sandbox.jsonl');
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
      SANDBOX_OUTPUT_PATH: sandboxLog,
    });
  });

  afterAll(async () => {
    if (gateway) {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
    await database?.drop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  describe('send and status', () => {
    it('sends a message and, with --wait, follows it to DELIVERED and prints its history', async () => {
      const stdout = await cliOk(['send', '--to', 'x@example.com', '--subject', 'CLI test', '--wait']);

      const [acceptedLine, statusLine, recipientLine, ...events] = stdout.trimEnd().split('\n');
      const accepted = /^accepted ([0-9a-f-]{36}) at (\S+)$/.exec(acceptedLine);
      expect(accepted).not.toBeNull();
      const [, id, acceptedAt] = accepted!;
      expect(new Date(acceptedAt).toISOString()).toBe(acceptedAt);
      expect(statusLine).toBe(`${id} DELIVERED (attempts: 1, provider: sandbox)`);
      expect(recipientLine).toBe('  recipient x@example.com SENT');
      expect(events.map((line) => line.split(/\s+/)[2])).toEqual([
        'ACCEPTED',
        'ATTEMPT_STARTED',
        'DELIVERED',
      ]);
      expect(events[0]).toBe(`  ${acceptedAt}  ACCEPTED        accepted`);
      expect(events[2]).toMatch(/^ {2}\S+ {2}DELIVERED {7}delivered by sandbox as sandbox-/);

      // status prints the same history the wait ended with.
      expect(await cliOk(['status', id])).toBe([statusLine, recipientLine, ...events].join('\n') + '\n');
    });

    it('prints "replayed" and the same id when an idempotency key is sent again', async () => {
      const args = ['send', '--to', 'x@example.com', '--idempotency-key', `cli-${Date.now()}`];
      const first = /^accepted (\S+) at (\S+)\n$/.exec(await cliOk(args));
      const second = /^replayed (\S+) at (\S+)\n$/.exec(await cliOk(args));

      expect(first).not.toBeNull();
      expect(second).not.toBeNull();
      expect(second![1]).toBe(first![1]);
      expect(second![2]).toBe(first![2]);
      const other = await cliOk(['send', '--to', 'x@example.com']);
      expect(other).toMatch(/^accepted /);
      expect(other).not.toContain(first![1]);
    });

    it('prints the status of a message by id', async () => {
      const id = await sendWith(TEST_API_KEY);
      const stdout = await cliOk(['status', id]);
      expect(stdout).toMatch(
        new RegExp(`^${id} (QUEUED|SENDING|DELIVERED) \\(attempts: [01](, provider: sandbox)?\\)\n`),
      );
      expect(stdout).toMatch(/\n {2}\S+ {2}ACCEPTED {8}accepted\n/);
    });

    it('exits 1 with NOT_FOUND for an id that does not exist', async () => {
      const run = await cli(['status', UNKNOWN_ID]);
      expect(run).toEqual({ code: 1, stdout: '', stderr: 'error: NOT_FOUND: message not found\n' });
    });

    it('exits 1 with UNAUTHENTICATED and says where the key goes when none is set', async () => {
      const run = await cli(['send', '--to', 'x@example.com'], null);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      const [error, hint, ...rest] = run.stderr.split('\n');
      expect(error).toMatch(/^error: UNAUTHENTICATED: missing credentials/);
      expect(hint).toBe(NO_KEY_HINT);
      expect(rest).toEqual(['']);
    });

    it('takes the key from --api-key as well as from MAILGATEWAY_API_KEY', async () => {
      const stdout = await cliOk(['--api-key', TEST_API_KEY, 'send', '--to', 'x@example.com'], null);
      expect(stdout).toMatch(/^accepted \S+ at \S+\n$/);
    });
  });

  describe('scheduled send, reschedule and cancel', () => {
    const HOUR_MS = 60 * 60 * 1000;
    const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

    /** `send --at <at>`: the id and the send time printed. */
    const sendAt = async (at: string) => {
      const stdout = await cliOk(['send', '--to', 'x@example.com', '--at', at]);
      const match = new RegExp(`^accepted (\\S+) at ${ISO}, send at (${ISO})\n$`).exec(stdout);
      expect({ stdout, match: match !== null }).toEqual({ stdout, match: true });
      return { id: match![1], sendAt: match![2] };
    };

    /** Polls `get` until the message has `status`; returns what it printed. */
    const getWhen = (id: string, status: string) =>
      waitFor(`${id} ${status}`, async () => {
        const stdout = await cliOk(['get', id]);
        return stdout.startsWith(`${id} ${status} `) ? stdout : undefined;
      });

    /** The ids the sandbox driver delivered, once a message sent now has been delivered too. */
    const deliveredSoFar = async () => {
      const marker = await sendWith(TEST_API_KEY);
      await getWhen(marker, 'DELIVERED');
      return new Set((await readSandboxLog(sandboxLog)).map(({ messageId }) => messageId));
    };

    it('send --at +1h holds the message SCHEDULED; get shows the send time', async () => {
      const before = Date.now();
      const { id, sendAt: at } = await sendAt('+1h');
      const after = Date.now();

      expect(Date.parse(at)).toBeGreaterThanOrEqual(before + HOUR_MS);
      expect(Date.parse(at)).toBeLessThanOrEqual(after + HOUR_MS);
      const lines = (await cliOk(['get', id])).trimEnd().split('\n');
      expect(lines[0]).toBe(`${id} SCHEDULED (attempts: 0, send at: ${at})`);
      expect(lines[1]).toBe('  recipient x@example.com PENDING');
      expect(lines.slice(2).map((line) => line.split(/\s+/)[2])).toEqual(['ACCEPTED']);
      expect(await cliOk(['status', id])).toBe(lines.join('\n') + '\n');
    });

    it('send --at takes an ISO 8601 time with its zone', async () => {
      const at = new Date(Date.now() + 2 * HOUR_MS);
      at.setUTCMilliseconds(0);
      const local = new Date(at.getTime() + 2 * HOUR_MS).toISOString().slice(0, 19) + '+02:00';
      const { id, sendAt: printed } = await sendAt(local);
      expect(printed).toBe(at.toISOString());
      expect(await cliOk(['get', id])).toMatch(
        new RegExp(`^${id} SCHEDULED \\(attempts: 0, send at: ${printed}\\)\n`),
      );
    });

    it('reschedule to now delivers a scheduled message', async () => {
      const { id } = await sendAt('+1h');
      const now = new Date().toISOString();

      expect(await cliOk(['reschedule', id, '--at', now])).toBe(`rescheduled ${id} for ${now}: QUEUED\n`);

      const lines = (await getWhen(id, 'DELIVERED')).trimEnd().split('\n');
      expect(lines[0]).toBe(`${id} DELIVERED (attempts: 1, provider: sandbox, send at: ${now})`);
      expect(lines.slice(2).map((line) => line.split(/\s+/)[2])).toEqual([
        'ACCEPTED',
        'RESCHEDULED',
        'ATTEMPT_STARTED',
        'DELIVERED',
      ]);
      expect((await readSandboxLog(sandboxLog)).filter(({ messageId }) => messageId === id)).toHaveLength(1);
    });

    it('reschedule to a later time keeps the message SCHEDULED with the new time', async () => {
      const { id } = await sendAt('+1h');
      const stdout = await cliOk(['reschedule', id, '--at', '+3h']);
      const match = new RegExp(`^rescheduled ${id} for (${ISO}): SCHEDULED\n$`).exec(stdout);
      expect(match).not.toBeNull();
      expect((await cliOk(['get', id])).split('\n')[0]).toBe(
        `${id} SCHEDULED (attempts: 0, send at: ${match![1]})`,
      );
    });

    it('cancel ends a scheduled message CANCELLED, and it never reaches the driver', async () => {
      const { id, sendAt: at } = await sendAt('+5s');

      const cancelled = await cliOk(['cancel', id]);
      expect(cancelled).toMatch(new RegExp(`^cancelled ${id} at ${ISO}\\n$`));

      const lines = (await cliOk(['get', id])).trimEnd().split('\n');
      expect(lines[0]).toBe(`${id} CANCELLED (attempts: 0, send at: ${at})`);
      expect(lines.slice(2).map((line) => line.split(/\s+/)[2])).toEqual(['ACCEPTED', 'CANCELLED']);
      // Once its send time has passed and a message sent after it was delivered, it still was not.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(at) - Date.now())));
      expect(await deliveredSoFar()).not.toContain(id);
      expect((await cliOk(['get', id])).split('\n')[0]).toBe(lines[0]);

      // Cancelled already: what was asked for holds (also what a retried cancel answers).
      expect(await cliOk(['cancel', id])).toBe(`${id} already CANCELLED\n`);
    });

    it('cancel of a delivered message exits 1 saying it is already DELIVERED', async () => {
      const id = /^accepted (\S+) /.exec(await cliOk(['send', '--to', 'x@example.com', '--wait']))![1];

      const run = await cli(['cancel', id]);

      expect(run).toEqual({
        code: 1,
        stdout: '',
        stderr: `not cancelled ${id}: FAILED_PRECONDITION: the message is already DELIVERED\n`,
      });
      expect((await cliOk(['get', id])).split('\n')[0]).toMatch(new RegExp(`^${id} DELIVERED `));
    });

    it('cancel of several ids prints each result and exits 1 when any was not cancelled', async () => {
      const [first, second] = [await sendAt('+1h'), await sendAt('+1h')];
      const delivered = /^accepted (\S+) /.exec(await cliOk(['send', '--to', 'x@example.com', '--wait']))![1];

      const run = await cli(['cancel', first.id, delivered, UNKNOWN_ID, second.id]);

      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        new RegExp(`^cancelled ${first.id} at ${ISO}\ncancelled ${second.id} at ${ISO}\n$`),
      );
      expect(run.stderr).toBe(
        `not cancelled ${delivered}: FAILED_PRECONDITION: the message is already DELIVERED\n` +
          `not cancelled ${UNKNOWN_ID}: NOT_FOUND: message not found\n`,
      );

      // Every id cancelled (one already): exit 0.
      const third = await sendAt('+1h');
      const again = await cliOk(['cancel', first.id, third.id]);
      expect(again).toMatch(new RegExp(`^${first.id} already CANCELLED\ncancelled ${third.id} at ${ISO}\n$`));
    });

    it('cancel of an unknown id exits 1 with NOT_FOUND', async () => {
      expect(await cli(['cancel', UNKNOWN_ID])).toEqual({
        code: 1,
        stdout: '',
        stderr: `not cancelled ${UNKNOWN_ID}: NOT_FOUND: message not found\n`,
      });
    });

    it.each([['tomorrow'], ['2026-12-24T18:00:00'], ['+1w'], ['2026-02-30T10:00Z']])(
      'refuses --at %s, naming the option, and sends nothing',
      async (at) => {
        const before = (await readSandboxLog(sandboxLog)).length;
        const run = await cli(['send', '--to', 'x@example.com', '--at', at]);
        expect(run.code).not.toBe(0);
        expect(run.stdout).toBe('');
        expect(run.stderr).toContain(`error: option '--at <time>' argument '${at}' is invalid.`);
        expect(run.stderr).toContain('Expected an ISO 8601 time with its zone');
        expect((await readSandboxLog(sandboxLog)).length).toBe(before);
      },
    );

    it('refuses a send time further ahead than the gateway allows with INVALID_ARGUMENT naming send_at', async () => {
      const run = await cli(['send', '--to', 'x@example.com', '--at', '+31d']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^error: INVALID_ARGUMENT: send_at: /);
    });

    it('reschedule needs --at, and refuses a delivered message', async () => {
      const missing = await cli(['reschedule', UNKNOWN_ID]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain("error: required option '--at <time>' not specified");

      const id = /^accepted (\S+) /.exec(await cliOk(['send', '--to', 'x@example.com', '--wait']))![1];
      expect(await cli(['reschedule', id, '--at', '+1h'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'error: FAILED_PRECONDITION: the message is already DELIVERED\n',
      });
    });
  });

  describe('sources', () => {
    it('creates a source with its policy and lists it', async () => {
      const line = 'billing              roles: mail.send; from: example.com; rate limit: 600/window\n';
      const created = await cliOk([
        'sources',
        'create',
        'billing',
        '--role',
        'mail.send',
        '--from-domain',
        'example.com',
        '--rate-limit',
        '600',
      ]);
      expect(created).toBe(line);

      const listed = (await cliOk(['sources', 'list'])).split('\n');
      expect(listed).toContain(line.trimEnd());
      expect(listed).toContain('dev                  roles: mail.send, mail.read, admin');
    });

    it('replaces the roles and policy of a source on update', async () => {
      expect(await cliOk(['sources', 'create', 'crm', '--role', 'mail.send', '--max-recipients', '5'])).toBe(
        'crm                  roles: mail.send; max recipients: 5\n',
      );
      const updated = await cliOk([
        'sources',
        'update',
        'crm',
        '--role',
        'mail.send',
        '--role',
        'mail.read',
        '--rate-limit',
        '10',
      ]);
      expect(updated).toBe('crm                  roles: mail.send, mail.read; rate limit: 10/window\n');
      expect((await cliOk(['sources', 'list'])).split('\n')).toContain(updated.trimEnd());
    });

    it('sets a driver chain, refusing a driver this gateway does not run', async () => {
      expect(await cliOk(['sources', 'create', 'routed', '--role', 'mail.send', '--driver', 'sandbox'])).toBe(
        'routed               roles: mail.send; drivers: sandbox\n',
      );
      const run = await cli(['sources', 'update', 'routed', '--role', 'mail.send', '--driver', 'smtp']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('policy.drivers[0]: driver "smtp" does not run in this gateway');
      expect((await cliOk(['sources', 'list'])).split('\n')).toContain(
        'routed               roles: mail.send; drivers: sandbox',
      );
    });

    it('sets what SendMail does with suppressed recipients, refusing a mode it does not know', async () => {
      expect(
        await cliOk([
          'sources',
          'create',
          'careful',
          '--role',
          'mail.send',
          '--suppressed-recipients',
          'refuse',
        ]),
      ).toBe('careful              roles: mail.send; suppressed recipients: refuse\n');
      const run = await cli([
        'sources',
        'update',
        'careful',
        '--role',
        'mail.send',
        '--suppressed-recipients',
        'keep',
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain("option '--suppressed-recipients <mode>' argument 'keep' is invalid");
      expect(
        await cliOk([
          'sources',
          'update',
          'careful',
          '--role',
          'mail.send',
          '--suppressed-recipients',
          'drop',
        ]),
      ).toBe('careful              roles: mail.send; suppressed recipients: drop\n');
      expect(await cliOk(['sources', 'update', 'careful', '--role', 'mail.send'])).toBe(
        'careful              roles: mail.send\n',
      );
    });

    it('sets a retention of its own, 0 meaning at once, refusing a body that outlives the history', async () => {
      expect(
        await cliOk([
          'sources',
          'create',
          'brief',
          '--role',
          'mail.send',
          '--body-retention',
          '0',
          '--history-retention',
          '3600',
        ]),
      ).toBe('brief                roles: mail.send; body retention: 0s; history retention: 3600s\n');
      const run = await cli([
        'sources',
        'update',
        'brief',
        '--role',
        'mail.send',
        '--body-retention',
        '7200',
        '--history-retention',
        '3600',
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('policy.body_retention_seconds');
      expect(await cliOk(['sources', 'update', 'brief', '--role', 'mail.send'])).toBe(
        'brief                roles: mail.send\n',
      );
    });

    it.each([
      ['--max-recipients', 'abc'],
      ['--rate-limit', ''],
      ['--rate-limit', '-3'],
      ['--max-recipients', '1.5'],
      ['--rate-limit', '1e3'],
      ['--max-recipients', '4294967296'],
    ])('refuses %s %s, naming the option, and creates nothing', async (option, value) => {
      const name = `strict-${option.slice(2)}-${value.replace(/\W/g, '')}`;
      const run = await cli(['sources', 'create', name, '--role', 'mail.send', option, value]);

      expect(run.code).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`error: option '${option} <n>' argument '${value}' is invalid.`);
      expect(run.stderr).toContain('Expected a whole number from 0 to 4294967295.');
      expect(await cliOk(['sources', 'list'])).not.toContain(name);
    });
  });

  describe('keys', () => {
    it('prints a new key that works for send but not for status, which needs mail.read', async () => {
      const key = await createKey('billing');

      const id = await sendWith(key);
      const status = await cli(['status', id], key);
      expect(status.code).toBe(1);
      expect(status.stdout).toBe('');
      expect(status.stderr).toMatch(/^error: PERMISSION_DENIED: .*mail\.read/);
      expect(status.stderr).not.toContain(NO_KEY_HINT);

      // The source's From domains reached the gateway too.
      const foreign = await cli(['send', '--to', 'x@example.com', '--from', 'a@example.org'], key);
      expect(foreign.code).toBe(1);
      expect(foreign.stderr).toMatch(/^error: PERMISSION_DENIED: /);
    });

    it('lists the keys of a source by prefix and state, never a secret', async () => {
      const keys = [await createKey('billing'), await createKey('billing')];

      const stdout = await cliOk(['keys', 'list', '--source', 'billing']);
      const lines = stdout.trimEnd().split('\n');
      for (const key of keys) {
        expect(lines).toContainEqual(
          expect.stringMatching(new RegExp(`^${prefixOf(key)} {2}billing {14}created \\S+Z {2}no expiry$`)),
        );
        expect(stdout).not.toContain(key.slice(17));
      }
      expect(stdout).not.toMatch(/mgw_/);
      expect(lines.every((line) => / billing /.test(line))).toBe(true);
      expect(stdout).not.toContain(prefixOf(TEST_API_KEY));
    });

    it('rotates a key: prints the old one with its expiry and a new key, and both work', async () => {
      const old = await createKey('billing');

      const before = Date.now();
      const run = await cli(['keys', 'rotate', prefixOf(old), '--overlap', '60']);
      const after = Date.now();

      expect(run.code).toBe(0);
      expect(run.stderr).toBe(NEW_KEY_NOTICE);
      const [previousLine, newKey, ...rest] = run.stdout.split('\n');
      expect(rest).toEqual(['']);
      expect(newKey).toMatch(KEY_PATTERN);
      expect(newKey).not.toBe(old);
      const previous = new RegExp(
        `^${prefixOf(old)} {2}billing {14}created \\S+ {2}expires (\\S+), replaced by ${prefixOf(newKey)}$`,
      ).exec(previousLine);
      expect(previous).not.toBeNull();
      const expiresAt = Date.parse(previous![1]);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000 - 1_000);
      expect(expiresAt).toBeLessThanOrEqual(after + 60_000 + 1_000);

      await sendWith(old);
      await sendWith(newKey);
    });

    it('revokes a key, which is then refused', async () => {
      const key = await createKey('billing');
      await sendWith(key);

      const revoked = await cliOk(['keys', 'revoke', prefixOf(key)]);
      expect(revoked).toMatch(
        new RegExp(`^${prefixOf(key)} {2}billing {14}created \\S+ {2}revoked \\S+Z\n$`),
      );

      const refused = await cli(['send', '--to', 'x@example.com'], key);
      expect(refused).toEqual({ code: 1, stdout: '', stderr: 'error: UNAUTHENTICATED: API key revoked\n' });
    });

    it('refuses an --overlap that is no number, naming the option, and rotates nothing', async () => {
      const key = await createKey('billing');
      const listBefore = await cliOk(['keys', 'list', '--source', 'billing']);
      const run = await cli(['keys', 'rotate', prefixOf(key), '--overlap', 'abc']);

      expect(run.code).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain("error: option '--overlap <seconds>' argument 'abc' is invalid.");
      expect(run.stderr).toContain('Expected a whole number of seconds.');
      expect(await cliOk(['keys', 'list', '--source', 'billing'])).toBe(listBefore);
      await sendWith(key);
    });

    it('refuses a fractional --expires-in, naming the option, and issues no key', async () => {
      const listBefore = await cliOk(['keys', 'list', '--source', 'billing']);
      const run = await cli(['keys', 'create', 'billing', '--expires-in', '1.5']);

      expect(run.code).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain("error: option '--expires-in <seconds>' argument '1.5' is invalid.");
      expect(await cliOk(['keys', 'list', '--source', 'billing'])).toBe(listBefore);
    });

    it('generates a well-formed key without a gateway', async () => {
      const nowhere = `127.0.0.1:${await freePort()}`;
      const first = await runCli(['keys', 'generate'], { MAILGATEWAY_ADDRESS: nowhere });
      const second = await runCli(['keys', 'generate'], { MAILGATEWAY_ADDRESS: nowhere });

      for (const run of [first, second]) {
        expect(run.code).toBe(0);
        expect(run.stderr).toBe('');
        expect(run.stdout.trimEnd()).toMatch(KEY_PATTERN);
        expect(run.stdout.endsWith('\n')).toBe(true);
      }
      expect(second.stdout).not.toBe(first.stdout);
    });
  });

  describe('content-keys', () => {
    it('rewrap seals messages stored before encryption, a batch per call, printing progress until none is left', async () => {
      for (let sent = 0; sent < 3; sent++) await sendWith(TEST_API_KEY);
      const rows = await openTestDataSource(database.env);
      let stored: number;
      try {
        // As the code before content encryption stored them: plain JSON, no key.
        await rows.query(
          `UPDATE outbox_message SET payload = '{"to":[{"address":"x@example.com","name":""}],"attachments":[]}',
                  content_key_id = NULL, wrapped_data_key = NULL, recipients = NULL, sender = NULL`,
        );
        [{ stored }] = (await rows.query('SELECT COUNT(*) AS stored FROM outbox_message')) as {
          stored: number;
        }[];
      } finally {
        await rows.destroy();
      }

      const lines = (await cliOk(['content-keys', 'rewrap', '--batch', String(stored - 1)]))
        .trimEnd()
        .split('\n');

      expect(lines).toEqual([
        `rewrapped ${stored - 1} (total ${stored - 1}) to key local-1; 1 remaining`,
        `rewrapped 1 (total ${stored}) to key local-1; 0 remaining`,
      ]);
      expect((await cliOk(['content-keys', 'rewrap'])).trimEnd()).toBe(
        'rewrapped 0 (total 0) to key local-1; 0 remaining',
      );
    });

    it('refuses a batch over 10000 before calling', async () => {
      const run = await cli(['content-keys', 'rewrap', '--batch', '10001']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Expected a whole number from 1 to 10000.');
    });
  });
});

describe('The mailgateway CLI over TLS and mTLS', () => {
  let folder: string;
  let ca: TestCertificateAuthority;
  let caPath: string;
  let server: { certPath: string; keyPath: string };

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-cli-tls-'));
    ca = await TestCertificateAuthority.create();
    caPath = await ca.writePem(join(folder, 'ca.crt'));
    server = await saveCertificate(
      folder,
      'server',
      await ca.issueFor('localhost', ['DNS:localhost', 'IP:127.0.0.1']),
    );
  });

  afterAll(() => rm(folder, { recursive: true, force: true }));

  /** A gateway process on SQLite listening with the test certificate, plus `env`. */
  const startGateway = async (env: Record<string, string>) => {
    const database = await provisionTestDatabase('sqlite');
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
      TLS_CERT_PATH: server.certPath,
      TLS_KEY_PATH: server.keyPath,
      ...env,
    });
    const stop = async () => {
      gateway.kill('SIGTERM');
      await gateway.exited;
      await database.drop();
    };
    // The name in its certificate, as a TLS client should (an IP address would be sent as the TLS
    // server name, which Node warns about on stderr: grpc/grpc-node#1919).
    return { address: `localhost:${port}`, stop };
  };

  describe('TLS', () => {
    let gateway: { address: string; stop(): Promise<void> };
    beforeAll(async () => {
      gateway = await startGateway({});
    });
    afterAll(() => gateway?.stop());

    const cli = (args: string[], env: Record<string, string> = {}) =>
      runCli(args, { MAILGATEWAY_ADDRESS: gateway.address, MAILGATEWAY_API_KEY: TEST_API_KEY, ...env });

    it('sends and follows a message trusting the CA of --ca-file', async () => {
      const run = await cli(['--ca-file', caPath, 'send', '--to', 'x@example.com', '--wait']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^accepted (\S+) at \S+\n\1 DELIVERED \(attempts: 1, provider: sandbox\)\n/);
    });

    it('takes the CA from MAILGATEWAY_CA_FILE', async () => {
      const run = await cli(['send', '--to', 'x@example.com'], { MAILGATEWAY_CA_FILE: caPath });
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^accepted \S+ at \S+\n$/);
    });

    it('fails against a TLS listener without TLS, and with TLS that does not trust its CA', async () => {
      for (const args of [[], ['--tls']]) {
        const run = await cli([...args, 'send', '--to', 'x@example.com']);
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
        expect(run.stderr).toMatch(/^error: UNAVAILABLE: /);
      }
    });

    it.each<[string, string[], Record<string, string>, string]>([
      [
        '--ca-file that does not exist',
        ['--ca-file', '/nonexistent/ca.crt'],
        {},
        '--ca-file: cannot read /nonexistent/ca.crt (ENOENT)',
      ],
      [
        'MAILGATEWAY_CA_FILE that does not exist',
        [],
        { MAILGATEWAY_CA_FILE: '/nonexistent/ca.crt' },
        'MAILGATEWAY_CA_FILE: cannot read /nonexistent/ca.crt (ENOENT)',
      ],
      [
        '--cert-file without --key-file',
        ['--cert-file', '/tmp/client.crt'],
        {},
        '--key-file: required with --cert-file (mTLS needs both)',
      ],
      [
        'MAILGATEWAY_KEY_FILE without a certificate',
        [],
        { MAILGATEWAY_KEY_FILE: '/tmp/client.key' },
        '--cert-file: required with MAILGATEWAY_KEY_FILE (mTLS needs both)',
      ],
      [
        'MAILGATEWAY_TLS that is no yes or no',
        [],
        { MAILGATEWAY_TLS: 'yes' },
        'MAILGATEWAY_TLS: expected true or false, got "yes"',
      ],
    ])('refuses %s, naming it, and sends nothing', async (_case, args, env, message) => {
      const run = await cli([...args, 'send', '--to', 'x@example.com'], env);
      expect(run).toEqual({ code: 1, stdout: '', stderr: `error: ${message}\n` });
    });
  });

  describe('mTLS', () => {
    let gateway: { address: string; stop(): Promise<void> };
    let operator: { certPath: string; keyPath: string };
    let workload: { certPath: string; keyPath: string };

    beforeAll(async () => {
      gateway = await startGateway({ TLS_CLIENT_CA_PATH: caPath });
      operator = await saveCertificate(folder, 'operator', await ca.issueFor('operator'));
      workload = await saveCertificate(folder, 'workload', await ca.issueFor('cli-workload'));
    });
    afterAll(() => gateway?.stop());

    /** The CLI with the CA and `certificate` from the environment, and `apiKey` if given. */
    const cli = (args: string[], certificate?: { certPath: string; keyPath: string }, apiKey?: string) =>
      runCli(args, {
        MAILGATEWAY_ADDRESS: gateway.address,
        MAILGATEWAY_CA_FILE: caPath,
        ...(certificate
          ? { MAILGATEWAY_CERT_FILE: certificate.certPath, MAILGATEWAY_KEY_FILE: certificate.keyPath }
          : {}),
        ...(apiKey ? { MAILGATEWAY_API_KEY: apiKey } : {}),
      });

    it('authenticates by its client certificate alone, once a source has its identity', async () => {
      const created = await cli(
        [
          'sources',
          'create',
          'workload',
          '--role',
          'mail.send',
          '--role',
          'mail.read',
          '--certificate-identity',
          'cli-workload',
        ],
        operator,
        TEST_API_KEY,
      );
      expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });

      const sent = await cli(['send', '--to', 'x@example.com', '--wait'], workload);
      expect(sent.stderr).toBe('');
      expect(sent.code).toBe(0);
      expect(sent.stdout).toMatch(/^accepted (\S+) at \S+\n\1 DELIVERED /);
    });

    it('takes the certificate from --cert-file and --key-file too', async () => {
      const run = await runCli(
        [
          '--ca-file',
          caPath,
          '--cert-file',
          workload.certPath,
          '--key-file',
          workload.keyPath,
          'send',
          '--to',
          'x@example.com',
        ],
        { MAILGATEWAY_ADDRESS: gateway.address },
      );
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^accepted \S+ at \S+\n$/);
    });

    it('is refused at the handshake without a client certificate, even with a key', async () => {
      const run = await cli(['send', '--to', 'x@example.com'], undefined, TEST_API_KEY);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: UNAVAILABLE: /);
    });
  });
});

/** `npm start` as a user runs it, the build already done (--ignore-scripts skips prestart only). */
class NpmStart {
  private output = '';
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(env: Readonly<Record<string, string>>): Promise<NpmStart> {
    const child = spawn('npm', ['start', '--ignore-scripts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', METRICS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new NpmStart(child);
    let ended = false;
    void started.exited.then(() => (ended = true));
    await waitFor('npm start to listen', () => {
      if (ended) throw new Error(`npm start exited:\n${started.output}`);
      return started.output.includes('mailgateway listening on') ? true : undefined;
    });
    return started;
  }

  get stdout(): string {
    return this.output;
  }

  /** SIGTERM to npm, as a supervisor or `kill` sends it, and npm's exit code. */
  stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** Whether something accepts connections on the port. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe("The README's first run and lost-key recipes, with npm start", () => {
  let folder: string;
  let port: number;
  let env: Record<string, string>;
  let running: NpmStart | undefined;

  beforeAll(async () => {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-npm-start-'));
    port = await freePort();
    // What a checkout's data/ holds, in a folder of its own.
    env = {
      GRPC_PORT: String(port),
      SQLITE_PATH: join(folder, 'data/mailgateway.sqlite'),
      DELIVERY_POLL_INTERVAL_MS: '20',
    };
  });

  afterAll(async () => {
    await running?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  /** The CLI as the README runs it, with the key pasted into MAILGATEWAY_API_KEY. */
  const sendAndWait = (key: string) =>
    runCli(['send', '--to', 'you@example.com', '--wait'], {
      MAILGATEWAY_ADDRESS: `127.0.0.1:${port}`,
      MAILGATEWAY_API_KEY: key,
    });

  it('first run: npm start prints the export line of a key that works, and stops with SIGTERM, freeing its port', async () => {
    running = await NpmStart.start(env);
    const printed = /^ {2}export MAILGATEWAY_API_KEY=(mgw_\S+)$/m.exec(running.stdout);
    expect(printed).not.toBeNull();

    const sent = await sendAndWait(printed![1]);
    expect(sent.stderr).toBe('');
    expect(sent.stdout).toMatch(/^accepted (\S+) at \S+\n\1 DELIVERED /);

    expect(await running.stop()).toBe(0);
    running = undefined;
    expect(await listening(port)).toBe(false);
  });

  it('lost key: a key from `keys generate`, given as BOOTSTRAP_API_KEY to npm start, is registered for dev', async () => {
    const generated = await runCli(['keys', 'generate'], {});
    expect(generated.code).toBe(0);
    const key = generated.stdout.trim();

    running = await NpmStart.start({ ...env, BOOTSTRAP_API_KEY: key });
    // The database already had its source and first key: nothing new is printed.
    expect(running.stdout).not.toContain('export MAILGATEWAY_API_KEY=');

    const sent = await sendAndWait(key);
    expect(sent.stderr).toBe('');
    expect(sent.stdout).toMatch(/^accepted (\S+) at \S+\n\1 DELIVERED /);

    expect(await running.stop()).toBe(0);
    running = undefined;
    expect(await listening(port)).toBe(false);
  });
});
