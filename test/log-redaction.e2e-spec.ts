import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { generateApiKey } from '@mailgateway/auth';
import { MailGatewayClient } from '@mailgateway/client';
import { Mail, MessageStatus } from '@mailgateway/contracts';
import {
  aCanaryMail,
  canaryKeys,
  checkHealth,
  freePort,
  GatewayProcess,
  leakedCanaries,
  mailCanaries,
  provisionTestDatabase,
  TEST_SOURCE,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { Client } from 'pg';
import { expectGrpcError } from './support/grpc-assertions';
import { singleAttemptClient } from './support/single-attempt-client';

const marker = randomBytes(4).toString('hex');
/** The gateway's admin key for this test, planted in the authorization metadata of every call. */
const CANARY_API_KEY = generateApiKey().key;

/** Values that must never reach a log line; each is unique so a hit names its leak. */
const CANARIES = {
  ...mailCanaries(marker),
  // The secret part of a real API key (mgw_<prefix>_<secret>, and the secret may hold "_"): its
  // visible prefix may be logged, the secret never.
  authorization: CANARY_API_KEY.split('_').slice(2).join('_'),
  databasePassword: `canary-password-${marker}`,
};
const canaryMail = (overrides: Partial<Mail> = {}) => aCanaryMail(CANARIES, overrides);

/** Runs `sql` as the test server's administrator, on `database` (default: the server's own). */
async function onServer(sql: string, database?: string): Promise<void> {
  const url = new URL(process.env.MAILGATEWAY_TEST_POSTGRES_URL!);
  if (database) url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('Logs of a gateway process', () => {
  let database: TestDatabase;
  let scratch: string;
  let gateway: GatewayProcess | undefined;
  let client: MailGatewayClient | undefined;
  const role = `mailgateway_canary_${marker}`;

  beforeAll(async () => {
    database = await provisionTestDatabase('postgres', { migrate: false });
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-logs-'));
  });

  afterAll(async () => {
    client?.close();
    if (gateway) await gateway.crash();
    await database.drop();
    await onServer(`DROP ROLE IF EXISTS ${role}`);
    await rm(scratch, { recursive: true, force: true });
  });

  it('carry no secret and no message content on success, error and retry paths', async () => {
    const name = new URL(database.env.DATABASE_URL).pathname.slice(1);
    await onServer(`CREATE ROLE ${role} LOGIN PASSWORD '${CANARIES.databasePassword}'`);
    await onServer(`ALTER DATABASE ${name} OWNER TO ${role}`);
    const url = new URL(database.env.DATABASE_URL);
    url.username = role;
    url.password = CANARIES.databasePassword;
    const port = await freePort();
    const env = {
      DATABASE_URL: url.toString(),
      CONTENT_KEYS: database.env.CONTENT_KEYS,
      GRPC_PORT: String(port),
      BOOTSTRAP_API_KEY: CANARY_API_KEY,
      LOG_LEVEL: 'verbose',
      // A folder where the sandbox expects a file: every delivery attempt fails and is retried.
      SANDBOX_OUTPUT_PATH: scratch,
      DELIVERY_MAX_ATTEMPTS: '2',
      RETRY_BASE_DELAY_MS: '20',
      DELIVERY_POLL_INTERVAL_MS: '20',
      HEALTH_CHECK_INTERVAL_MS: '100',
    };
    const migrate = GatewayProcess.spawn(env, 'migrate');
    expect((await migrate.exited).code).toBe(0);
    gateway = await GatewayProcess.start(env);
    client = singleAttemptClient(`127.0.0.1:${port}`, { apiKey: CANARY_API_KEY });

    // Every call has an idempotency key of its own that starts with the canary.
    const keyed = canaryKeys(CANARIES);

    // Success, and a delivery that is retried and then fails.
    const { messageId } = await client.send(canaryMail(), keyed());
    const failed = await waitFor('the delivery to fail after its retry', async () => {
      const message = await client!.getMessage({ messageId });
      return message.status === MessageStatus.MESSAGE_STATUS_FAILED ? message : undefined;
    });
    expect(failed.attempts).toBe(2);

    // Validation errors that name fields holding personal data: a header, an address, a tag.
    await expectGrpcError(
      client.send(
        canaryMail({ headers: [{ name: 'X-Campaign', value: `${CANARIES.headerValue}\r\nBcc: x` }] }),
        keyed(),
      ),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.send(canaryMail({ to: [{ address: `${CANARIES.toAddress}@@example.org`, name: '' }] }), keyed()),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.send(canaryMail({ tags: [`${CANARIES.tag} x`] }), keyed()),
      status.INVALID_ARGUMENT,
    );

    // An internal error: the database refuses the write.
    await onServer(`REVOKE INSERT ON message_event FROM ${role}`, name);
    const internal = await expectGrpcError(
      client.send(canaryMail(), keyed()),
      status.INTERNAL,
      /internal error \(id /,
    );
    await onServer(`GRANT INSERT ON message_event TO ${role}`, name);

    // The database goes away: readiness drops and calls fail while its connections are cut.
    await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    try {
      await onServer(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      await waitFor('readiness to drop', async () =>
        (await checkHealth(`127.0.0.1:${port}`)) === 'NOT_SERVING' ? true : undefined,
      );
      // Storage being gone is the caller's cue to retry later: UNAVAILABLE, never INTERNAL.
      await expectGrpcError(client.send(canaryMail(), keyed()), status.UNAVAILABLE);
    } finally {
      await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }

    const stopped = gateway;
    gateway = undefined;
    stopped.kill('SIGTERM');
    expect((await stopped.exited).code).toBe(0);

    const output = migrate.logs + stopped.logs;
    expect(leakedCanaries(CANARIES, output)).toEqual([]);

    // The paths above were taken, and each left its line.
    const lines = stopped.logLines;
    const calls = lines.filter((line) => line.msg === 'grpc call');
    expect(calls).toContainEqual(
      expect.objectContaining({
        method: 'SendMail',
        code: 'OK',
        source: TEST_SOURCE,
        messageIds: [messageId],
      }),
    );
    expect(calls).toContainEqual(expect.objectContaining({ method: 'GetMessage', code: 'OK' }));
    expect(calls).toContainEqual(expect.objectContaining({ method: 'SendMail', code: 'INVALID_ARGUMENT' }));
    const errorId = /id ([0-9a-f-]{36})/.exec(internal.details)![1];
    expect(calls).toContainEqual(expect.objectContaining({ method: 'SendMail', code: 'INTERNAL', errorId }));
    expect(
      lines.filter((line) => line.context === 'GrpcExceptionFilter' && String(line.msg).includes(errorId)),
    ).toHaveLength(1);
    const attempts = lines.filter((line) => line.msg === 'delivery attempt' && line.messageId === messageId);
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'retrying', provider: 'sandbox', source: TEST_SOURCE }),
      expect.objectContaining({ attempt: 2, outcome: 'failed', provider: 'sandbox', source: TEST_SOURCE }),
    ]);
    expect(lines.some((line) => String(line.msg).startsWith('Not ready: database'))).toBe(true);
  });
});
