import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import {
  MailGatewayAdminClient,
  MessageEventType,
  MessageStatus,
  SuppressionReason as ProtoReason,
} from '@mailgateway/client';
import { TransactionRunner } from '@mailgateway/database';
import { ADDRESS_HASH_PATTERN } from '@mailgateway/encryption';
import { applyRecipientUpdates, RecipientState } from '@mailgateway/outbox';
import { ALL_SOURCES, SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayPerTest, TestGateway } from './support/test-gateway';

const run = promisify(execFile);
const CLI_MAIN = join(__dirname, '..', 'dist/apps/cli/apps/cli/src/main.js');
const BOB = 'bob@example.com';
const to = (...addresses: string[]) => addresses.map((address) => ({ address, name: '' }));
const inSeconds = (seconds: number) => ({ seconds: Math.floor(Date.now() / 1000) + seconds, nanos: 0 });

/** Every value the database holds, as text: pg_dump --data-only on PostgreSQL, every row of every table on SQLite. */
async function dumpOf(gateway: TestGateway, database: TestDatabase): Promise<string> {
  if (database.kind === 'postgres') {
    const { stdout } = await run('pg_dump', ['--data-only', database.env.DATABASE_URL], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }
  const dataSource = gateway.app.get(DataSource);
  const tables: { name: string }[] = await dataSource.query(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
  );
  const lines: string[] = [];
  for (const { name } of tables) {
    for (const row of await dataSource.query(`SELECT * FROM ${name}`))
      lines.push(`${name} ${JSON.stringify(row)}`);
  }
  return lines.join('\n');
}

describe.each(DATABASE_KINDS)('EraseAddress on %s', (kind) => {
  const { database, start } = gatewayPerTest(kind);

  /** Messages to Ann and Bob, from Bob, to Carol (delivered), a scheduled one to Bob; Bob's complaint and bounce detail. */
  const seed = async (gateway: TestGateway) => {
    const send = async (
      overrides: Parameters<typeof aSendMailRequest>[0],
      sendAt?: ReturnType<typeof inSeconds>,
    ) => (await gateway.client.sendMail({ ...aSendMailRequest(overrides), sendAt })).messageId;
    const toAnnAndBob = await send({ to: to('ann@example.com', 'Bob@Example.com') });
    const fromBob = await send({
      from: { address: 'BOB@example.com', name: 'Bob' },
      to: to('ann@example.com'),
    });
    const toCarol = await send({ to: to('carol@example.com'), subject: 'For Carol' });
    const scheduled = await send({ to: to(BOB) }, inSeconds(3600));
    for (const id of [toAnnAndBob, fromBob, toCarol]) await gateway.finalState(id);
    await gateway.app.get(TransactionRunner).run(async (manager) => {
      await applyRecipientUpdates(manager, kind, [
        {
          messageId: toAnnAndBob,
          source: 'dev',
          address: BOB,
          state: RecipientState.Complained,
          detail: 'complaint from <Bob@example.com> via feedback loop',
          occurredAt: Date.now(),
          provider: 'sandbox',
        },
      ]);
      await gateway.app.get(SuppressionList).add(manager, [
        {
          address: BOB,
          scope: ALL_SOURCES,
          reason: SuppressionReason.Complaint,
          origin: `sandbox:event-1 (message ${toAnnAndBob})`,
          expiresAt: null,
        },
      ]);
    });
    return { toAnnAndBob, fromBob, toCarol, scheduled };
  };

  it('erases Bob from every table, keeps Ann and Carol, ends his scheduled mail, and still suppresses him', async () => {
    const gateway = await start();
    const { toAnnAndBob, fromBob, toCarol, scheduled } = await seed(gateway);
    const carolBefore = await gateway.client.getMessage({ messageId: toCarol });
    expect((await dumpOf(gateway, database)).toLowerCase()).toContain(BOB);

    const erased = await gateway.admin.eraseAddress({ address: 'Bob@EXAMPLE.com', reason: 'ticket 4711' });

    expect(erased).toMatchObject({ messagesShredded: 3, suppressionsKept: 1 });
    // The three messages, and the complaint event.
    expect(erased.recordsRedacted).toBeGreaterThanOrEqual(4);
    expect(erased.addressHash).toMatch(ADDRESS_HASH_PATTERN);
    expect(erased.erasureId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const hash = erased.addressHash;

    const dump = await dumpOf(gateway, database);
    expect(dump.toLowerCase()).not.toContain(BOB);
    expect(dump).toContain(hash);
    expect(dump).toContain('ann@example.com');
    expect(dump).toContain('carol@example.com');

    // Ann's and Carol's data intact; Bob's hash stands where he was.
    expect(await gateway.client.getMessage({ messageId: toCarol })).toEqual(carolBefore);
    const shared = await gateway.client.getMessage({ messageId: toAnnAndBob });
    expect(shared.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(shared.recipients.map(({ address }) => address)).toEqual(['ann@example.com', hash]);
    expect(shared.events.find((event) => event.recipient === hash)?.detail).toBe(
      `complaint from <${hash}> via feedback loop`,
    );
    expect(
      (await gateway.client.getMessage({ messageId: fromBob })).recipients.map((r) => r.address),
    ).toEqual(['ann@example.com']);

    // The scheduled message ended with a clear event; it is never sent.
    const ended = await gateway.client.getMessage({ messageId: scheduled });
    expect(ended.status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
    expect(ended.events.at(-1)).toMatchObject({
      type: MessageEventType.MESSAGE_EVENT_TYPE_CANCELLED,
      detail: 'cancelled: an address of the message was erased',
    });

    // The record: the hash and the counts, never the address.
    const records = await gateway.app
      .get(DataSource)
      .query(
        'SELECT id, address_hash, reason, requested_by, messages_shredded, suppressions_kept FROM erasure_record',
      );
    expect(
      records.map((record: Record<string, unknown>) => ({
        ...record,
        messages_shredded: Number(record.messages_shredded),
      })),
    ).toEqual([
      {
        id: erased.erasureId,
        address_hash: hash,
        reason: 'ticket 4711',
        requested_by: 'dev',
        messages_shredded: 3,
        suppressions_kept: 1,
      },
    ]);

    // The complaint still suppresses Bob, found by his address, as before.
    const again = await gateway.client.sendMail(aSendMailRequest({ to: to('BOB@example.com') }));
    expect(again.suppressedRecipients).toEqual([BOB]);
    expect((await gateway.finalState(again.messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_SUPPRESSED);
    const { suppressions } = await gateway.admin.checkSuppressions({ source: 'dev', addresses: [BOB] });
    expect(suppressions).toMatchObject([{ address: BOB, reason: ProtoReason.SUPPRESSION_REASON_COMPLAINT }]);

    // Erasing again finds only what came since: the suppressed message just sent (nothing to shred in it but its copy).
    const second = await gateway.admin.eraseAddress({ address: BOB, reason: 'ticket 4711, again' });
    expect(second.erasureId).not.toBe(erased.erasureId);
    expect(second.addressHash).toBe(hash);
    const third = await gateway.admin.eraseAddress({ address: BOB, reason: 'ticket 4711, once more' });
    expect(third).toMatchObject({
      addressHash: hash,
      messagesShredded: 0,
      recordsRedacted: 0,
      suppressionsKept: 0,
    });
    expect((await dumpOf(gateway, database)).toLowerCase()).not.toContain(BOB);
  });

  it('a complaint naming the plain address after the erasure lands on the hash and suppresses it', async () => {
    const gateway = await start({ FEEDBACK_PROCESS_INTERVAL_MS: '20' });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest({ to: to('ann@example.com', BOB) }));
    const delivered = await gateway.finalState(messageId);
    const erased = await gateway.admin.eraseAddress({ address: BOB, reason: 'ticket 4712' });
    expect(erased.suppressionsKept).toBe(0);

    // Stored as intake stores a verified notification; the background processor applies it.
    const dataSource = gateway.app.get(DataSource);
    const feedback = {
      provider: 'sandbox',
      providerMessageId: delivered.providerMessageId,
      eventId: 'late-1',
      kind: 'complaint',
      recipient: 'Bob@Example.com',
      detail: `abuse report for <${BOB}>`,
      occurredAt: Date.now(),
    };
    const now = Date.now();
    await dataSource.query(
      `INSERT INTO provider_notification (provider, event_id, feedback, state, attempts, next_attempt_at, received_at)
         VALUES ('sandbox', 'late-1', '${JSON.stringify(feedback)}', 'pending', 0, ${now}, ${now})`,
    );
    await waitFor('the complaint processed', async () => {
      const [row] = await dataSource.query(`SELECT state FROM provider_notification`);
      return row?.state === 'pending' ? undefined : row;
    });

    const message = await gateway.client.getMessage({ messageId });
    expect(message.events.at(-1)).toMatchObject({
      type: MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_COMPLAINED,
      recipient: erased.addressHash,
    });
    const again = await gateway.client.sendMail(aSendMailRequest({ to: to('BOB@example.com') }));
    expect(again.suppressedRecipients).toEqual([BOB]);
    await gateway.finalState(again.messageId);
    await gateway.admin.eraseAddress({ address: BOB, reason: 'ticket 4712, the new message' });
    expect((await dumpOf(gateway, database)).toLowerCase()).not.toContain(BOB);
  });

  it('refuses bad input naming the field, and changes nothing; needs the admin role', async () => {
    const gateway = await start();
    await seed(gateway);
    const before = await dumpOf(gateway, database);

    await expectGrpcError(
      gateway.admin.eraseAddress({ address: 'bob.example.com', reason: 'ticket' }),
      status.INVALID_ARGUMENT,
      /^address: address must contain "@"/,
    );
    await expectGrpcError(
      gateway.admin.eraseAddress({ address: '', reason: 'ticket' }),
      status.INVALID_ARGUMENT,
      /^address: /,
    );
    await expectGrpcError(
      gateway.admin.eraseAddress({ address: BOB, reason: ' ' }),
      status.INVALID_ARGUMENT,
      /^reason: required/,
    );
    await expectGrpcError(
      gateway.admin.eraseAddress({ address: BOB, reason: 'x'.repeat(501) }),
      status.INVALID_ARGUMENT,
      /^reason: 501 characters; the limit is 500/,
    );
    const sender = await gateway.addSource('sender', ['mail.send', 'mail.read']);
    const notAdmin = new MailGatewayAdminClient({ address: gateway.address, apiKey: sender });
    try {
      await expectGrpcError(
        notAdmin.eraseAddress({ address: BOB, reason: 'ticket' }),
        status.PERMISSION_DENIED,
      );
    } finally {
      notAdmin.close();
    }

    // Only the new source and its key were written meanwhile (pg_dump's session token aside).
    const withoutSource = (dump: string) =>
      dump
        .split('\n')
        .filter((line) => !/sender|api_key|api_source|^\\(un)?restrict /.test(line))
        .join('\n');
    expect(withoutSource(await dumpOf(gateway, database))).toBe(withoutSource(before));
    expect(await gateway.app.get(DataSource).query('SELECT id FROM erasure_record')).toEqual([]);
  });
});

describe('mailgateway erase (the CLI against a gateway process)', () => {
  let database: TestDatabase;
  let gateway: GatewayProcess;
  let address: string;

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI_MAIN, ...args],
        {
          env: { PATH: process.env.PATH, MAILGATEWAY_ADDRESS: address, MAILGATEWAY_API_KEY: TEST_API_KEY },
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== 'number') reject(error);
          else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
        },
      );
    });

  beforeAll(async () => {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
    database = await provisionTestDatabase('sqlite');
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
    });
  });

  afterAll(async () => {
    if (gateway) {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
    await database?.drop();
  });

  it('prints the counts and the hash, never the address, and the gateway does not log it either', async () => {
    const sent = await cli(['send', '--to', 'Dora@Example.org', '--wait']);
    expect(sent.code).toBe(0);

    const erased = await cli(['erase', 'dora@example.org', '--reason', 'ticket 99']);

    expect(erased.stderr).toBe('');
    expect(erased.code).toBe(0);
    const lines = erased.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^erased h:[0-9a-f]{64} at \S+Z \(erasure [0-9a-f-]{36}\)$/);
    expect(lines.slice(1)).toEqual([
      '  messages shredded:  1',
      '  records redacted:   1',
      '  suppressions kept:  0 (as the hash)',
    ]);
    expect(erased.stdout.toLowerCase()).not.toContain('dora@example.org');
    const hash = /h:[0-9a-f]{64}/.exec(lines[0])![0];
    // The gateway's line names the hash (log lines reach stdout in batches, within 100 ms).
    await waitFor('the erasure log line', () => (gateway.logs.includes(hash) ? true : undefined));
    expect(gateway.logs.toLowerCase()).not.toContain('dora@example.org');

    const again = await cli(['erase', 'dora@example.org', '--reason', 'ticket 99']);
    expect(again.stdout).toContain('  messages shredded:  0\n');

    const refused = await cli(['erase', 'dora.example.org', '--reason', 'ticket 99']);
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: INVALID_ARGUMENT: address: address must contain "@"\n',
    });
    const noReason = await cli(['erase', 'dora@example.org']);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain("required option '--reason <text>' not specified");
  });
});
