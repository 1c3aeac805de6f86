import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import type { MailGatewayClient } from '@mailgateway/client';
import { GetMessageResponse, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import type { DeliveryOutcome } from '@mailgateway/delivery';
import { KeyRing } from '@mailgateway/encryption';
import { RetentionLoop } from '@mailgateway/outbox';
import {
  aSendMailRequest,
  DatabaseKind,
  DisposablePostgres,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  ScriptedDriver,
  TestDatabase,
  waitFor,
  TEST_CONTENT_KEYS,
} from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { startTestGateway, TestGateway } from './support/test-gateway';

const run = promisify(execFile);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SCRIPTS = join(__dirname, '../scripts');

/** What the gateway runs with on both sides of the restore: quick retries, a short lease. */
const ENV = {
  RETRY_BASE_DELAY_MS: '100',
  RETRY_MAX_DELAY_MS: '400',
  DELIVERY_MAX_ATTEMPTS: '1000',
  DELIVERY_LEASE_MS: '10000',
  SCHEDULE_MAX_AHEAD_MS: String(2 * DAY),
};

interface FeedRead {
  readonly events: Map<string, string>;
  readonly cursor: string;
}

/**
 * The caller's feed from `cursor` (event id → "message type"), read until it holds every event in
 * `expected`. On PostgreSQL the feed shows only what lies below the oldest write transaction still
 * open anywhere in the cluster, so another suite's open transaction may hold new events back for a
 * while: they come later, never out of order.
 */
async function readFeed(
  client: MailGatewayClient,
  expected: readonly string[],
  cursor = '',
): Promise<FeedRead> {
  const events = new Map<string, string>();
  return waitFor(
    `the feed to show ${expected.join(', ')}`,
    async () => {
      for (;;) {
        const page = await client.listEvents({ cursor, pageSize: 1000 });
        for (const event of page.events) events.set(event.eventId, `${event.messageId} ${event.type}`);
        cursor = page.nextCursor;
        if (page.events.length === 0) break;
      }
      const shown = new Set(events.values());
      return expected.every((event) => shown.has(event)) ? { events, cursor } : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** Polls GetMessage as `client`'s source until the message is delivered. */
const finalOf = (client: MailGatewayClient, messageId: string) =>
  waitFor(`${messageId} to be delivered`, async () => {
    const message = await client.getMessage({ messageId });
    return message.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? message : undefined;
  });

const deliveredEvent = (messageId: string) => `${messageId} ${MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED}`;

/** The backup file of the database in `env`: pg_dump -Fc, or SQLite's online backup while it runs. */
async function backUp(kind: DatabaseKind, database: TestDatabase, folder: string): Promise<string> {
  if (kind === 'postgres') {
    const file = join(folder, 'outbox.dump');
    await run('pg_dump', ['-Fc', '--no-owner', '-f', file, '-d', database.env.DATABASE_URL]);
    return file;
  }
  const file = join(folder, 'outbox-backup.sqlite');
  const source = new Database(database.env.SQLITE_PATH, { fileMustExist: true });
  try {
    await source.backup(file);
  } finally {
    source.close();
  }
  return file;
}

/** Where a PostgreSQL backup is restored: a new database on the same server, or on a server of its own. */
type RestoreTarget = 'the same server' | 'another server';

/**
 * A new database holding the backup: pg_restore into an empty database, or the file copied. Its env
 * is the original's with the new location, so what else the original ran with (a content key ring)
 * goes with it.
 */
async function restore(
  kind: DatabaseKind,
  file: string,
  original: TestDatabase,
  server: DisposablePostgres | undefined,
): Promise<TestDatabase> {
  const created = server ? await databaseOn(server) : await provisionTestDatabase(kind, { migrate: false });
  const database: TestDatabase = {
    kind,
    env: { ...original.env, ...created.env },
    drop: () => created.drop(),
  };
  if (kind === 'postgres') {
    await run('pg_restore', ['--no-owner', '--exit-on-error', '-d', database.env.DATABASE_URL, file]);
  } else {
    await copyFile(file, database.env.SQLITE_PATH);
    // The embedded content key ring, if the gateway keeps one beside its file: restored beside the copy.
    const ring = join(dirname(original.env.SQLITE_PATH), 'content-keys');
    if (existsSync(ring))
      await cp(ring, join(dirname(database.env.SQLITE_PATH), 'content-keys'), { recursive: true });
  }
  return database;
}

/** An empty database on a PostgreSQL server of the test's own (a new cluster: its own transaction ids). */
async function databaseOn(server: DisposablePostgres): Promise<TestDatabase> {
  const admin = new Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE restored');
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = '/restored';
  // Dropped with the server, which the test destroys.
  // The restored gateway runs with the source's key ring, as docs/operations.md says.
  return {
    kind: 'postgres',
    env: { DATABASE_URL: url.toString(), CONTENT_KEYS: TEST_CONTENT_KEYS },
    drop: async () => undefined,
  };
}

/** The release's migrate command, then the after-restore script, as docs/operations.md says. */
async function prepareRestored(kind: DatabaseKind, database: TestDatabase): Promise<string> {
  const migrate = GatewayProcess.spawn(database.env, 'migrate');
  const { code } = await migrate.exited;
  expect({ code, messages: migrate.messages }).toMatchObject({ code: 0 });
  if (kind === 'postgres') {
    await run('psql', [
      database.env.DATABASE_URL,
      '-v',
      'ON_ERROR_STOP=1',
      '-q',
      '-f',
      join(SCRIPTS, 'after-restore-postgres.sql'),
    ]);
  } else {
    const script = await readFile(join(SCRIPTS, 'after-restore-sqlite.sql'), 'utf8');
    const restored = new Database(database.env.SQLITE_PATH, { fileMustExist: true });
    try {
      restored.exec(script);
    } finally {
      restored.close();
    }
  }
  return migrate.messages;
}

const eventTypes = (message: GetMessageResponse) => message.events.map((event) => event.type);

const CASES: [DatabaseKind, RestoreTarget][] = [
  ['sqlite', 'the same server'],
  ['postgres', 'the same server'],
  ['postgres', 'another server'],
];

describe.each(CASES)('Backup and restore on %s, restored on %s', (kind, target) => {
  const databases: TestDatabase[] = [];
  const gateways: TestGateway[] = [];
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-backup-'));
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
    for (const database of databases.splice(0)) await database.drop();
    await rm(folder, { recursive: true, force: true });
  });

  /** The provider: down for "pending" mail until the test brings it up; "hold" attempts wait. */
  let upstreamUp = false;
  const held = new Map<string, (outcome: DeliveryOutcome) => void>();
  const driver = new ScriptedDriver((message): DeliveryOutcome | Promise<DeliveryOutcome> => {
    if (message.mail.subject.startsWith('hold') && message.attempt === 1) {
      return new Promise((resolve) => held.set(message.id, resolve));
    }
    if (message.mail.subject.startsWith('pending') && !upstreamUp) {
      return { kind: 'retry', reason: 'upstream 503' };
    }
    return { kind: 'accepted', providerMessageId: `p-${message.id}-${message.attempt}` };
  });
  beforeEach(() => {
    upstreamUp = true;
    held.clear();
    driver.calls.length = 0;
  });

  const start = async (database: TestDatabase) => {
    const gateway = await startTestGateway({ ...ENV, ...database.env }, { driver });
    gateways.push(gateway);
    return gateway;
  };
  const stop = async (gateway: TestGateway) => {
    await gateway.close();
    gateways.splice(gateways.indexOf(gateway), 1);
  };
  const statusOf = async (gateway: TestGateway, messageId: string) =>
    (await gateway.client.getMessage({ messageId })).status;

  it('delivers every pending message of the backup once, keeps final ones final, and refuses older cursors', async () => {
    const original = await provisionTestDatabase(kind);
    databases.push(original);
    let gateway = await start(original);
    const send = async (subject: string, options: { sendAt?: number; key?: string } = {}) =>
      (
        await gateway.client.sendMail({
          ...aSendMailRequest({ subject }, options.key ?? `key-${subject}`),
          sendAt:
            options.sendAt === undefined
              ? undefined
              : { seconds: Math.floor(options.sendAt / 1000), nanos: 0 },
        })
      ).messageId;

    // Before the backup: delivered and cancelled messages (final), then the provider goes down.
    const delivered = [await send('early-1'), await send('early-2'), await send('early-3')];
    for (const id of delivered) await gateway.finalState(id);
    const cancelled = await send('scheduled-cancelled', { sendAt: Date.now() + DAY });
    await gateway.client.cancelMessage(cancelled);
    upstreamUp = false;
    const retrying = [
      await send('pending-retry-1'),
      await send('pending-retry-2'),
      await send('pending-retry-3'),
      await send('pending-retry-4'),
    ];
    const sendAt = Date.now() + DAY;
    const scheduled = [
      await send('pending-scheduled-1', { sendAt }),
      await send('pending-scheduled-2', { sendAt }),
    ];
    const stillScheduled = await send('scheduled-later', { sendAt });
    for (const id of retrying) {
      await waitFor(`${id} to have failed an attempt`, async () => {
        const message = await gateway.client.getMessage({ messageId: id });
        return eventTypes(message).includes(MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED)
          ? true
          : undefined;
      });
    }
    // SQLite's online backup is taken while an attempt is under way (its answer comes later).
    const inFlight = kind === 'sqlite' ? [await send('hold-1')] : [];
    for (const id of inFlight) await waitFor(`${id} in flight`, () => (held.has(id) ? true : undefined));

    // A caller follows the feed: the key that signs its cursors is in the backup.
    await readFeed(gateway.client, delivered.map(deliveredEvent));

    // A source with the shortest history retention has a message purged by a retention round an
    // hour on, which raises that source's feed floor past the purged events (on PostgreSQL, the
    // old cluster's transaction id), then has one kept.
    const shortHistoryKey = await gateway.addSource('short-history', ['mail.send', 'mail.read'], {
      historyRetentionSeconds: 3600,
    });
    let shortHistory = gateway.connect(shortHistoryKey);
    const sendShort = async (subject: string) =>
      (await shortHistory.sendMail(aSendMailRequest({ subject }, `key-${subject}`))).messageId;
    const purged = await sendShort('short-history-purged');
    await finalOf(shortHistory, purged);
    await gateway.app.get(RetentionLoop).runRound(Date.now() + HOUR + 60_000);
    await expectGrpcError(shortHistory.getMessage({ messageId: purged }), status.NOT_FOUND);
    const keptShort = await sendShort('short-history-kept');
    await finalOf(shortHistory, keptShort);
    await readFeed(shortHistory, [deliveredEvent(keptShort)]);

    const everyId = [...delivered, cancelled, ...retrying, ...scheduled, stillScheduled, ...inFlight];
    const before = new Map<string, GetMessageResponse>();
    for (const id of everyId) before.set(id, await gateway.client.getMessage({ messageId: id }));

    // The backup: PostgreSQL's of a stopped gateway's database, SQLite's online.
    if (kind === 'postgres') await stop(gateway);
    const backup = await backUp(kind, original, folder);
    if (kind === 'postgres') gateway = await start(original);

    // The original goes on after the backup point, then is lost: what it did then is gone.
    const lost = await send('lost', { key: 'lost-key' });
    await gateway.finalState(lost);
    for (const id of inFlight) held.get(id)!({ kind: 'accepted', providerMessageId: `p-${id}-held` });
    for (const id of inFlight) await gateway.finalState(id);
    const seenBeforeLoss = await readFeed(gateway.client, [lost, ...inFlight].map(deliveredEvent));
    await stop(gateway);
    const callsBeforeRestore = driver.calls.length;

    // The restore: a new database from the backup, migrate, the after-restore script, start.
    const server = target === 'another server' ? await DisposablePostgres.create() : undefined;
    if (server) databases.push({ kind, env: {}, drop: () => server.destroy() });
    const restored = await restore(kind, backup, original, server);
    databases.push(restored);
    const migrateOutput = await prepareRestored(kind, restored);
    expect(migrateOutput).toContain('Schema is up to date');
    upstreamUp = true;
    gateway = await start(restored);

    for (const id of scheduled) await gateway.client.rescheduleMessage(id, Date.now());
    for (const id of [...retrying, ...scheduled, ...inFlight]) {
      const message = await gateway.finalState(id, 30_000);
      expect({ id, status: message.status }).toEqual({ id, status: MessageStatus.MESSAGE_STATUS_DELIVERED });
      // The history of the backup survives: what it held comes first, unchanged.
      expect(message.events.slice(0, before.get(id)!.events.length)).toEqual(before.get(id)!.events);
    }
    const afterRestore = driver.calls.slice(callsBeforeRestore);
    const sentAfterRestore = (id: string) => afterRestore.filter((call) => call.id === id).length;
    // Every pending message is sent exactly once more; final ones are not sent again.
    for (const id of [...retrying, ...scheduled])
      expect({ id, sends: sentAfterRestore(id) }).toEqual({ id, sends: 1 });
    for (const id of [...delivered, cancelled, stillScheduled]) {
      expect({ id, sends: sentAfterRestore(id) }).toEqual({ id, sends: 0 });
      expect(await gateway.client.getMessage({ messageId: id })).toEqual(before.get(id));
    }
    // An attempt under way at the backup point is made again once its lease has run out: the
    // provider gets it twice, with the same idempotency key both times.
    for (const id of inFlight) {
      const sends = driver.callsFor(id);
      expect(sends).toHaveLength(2);
      expect(new Set(sends.map((call) => call.idempotencyKey))).toEqual(new Set([id]));
    }
    expect(await statusOf(gateway, stillScheduled)).toBe(MessageStatus.MESSAGE_STATUS_SCHEDULED);

    // What was accepted after the backup point is gone; the caller's idempotency key sends it anew.
    await expectGrpcError(gateway.client.getMessage({ messageId: lost }), status.NOT_FOUND);
    const resent = await gateway.client.sendMail(aSendMailRequest({ subject: 'lost' }, 'lost-key'));
    expect(resent.replayed).toBe(false);
    expect(resent.messageId).not.toBe(lost);
    // A restored message's key still answers with that message.
    const replay = await gateway.client.sendMail(
      aSendMailRequest({ subject: 'pending-retry-1' }, 'key-pending-retry-1'),
    );
    expect(replay).toMatchObject({ replayed: true, messageId: retrying[0] });

    // New mail goes out.
    const fresh = await send('after-restore');
    expect((await gateway.finalState(fresh)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect((await gateway.finalState(resent.messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(driver.callsFor(fresh)).toHaveLength(1);

    // A cursor issued before the restore is refused, not read on from a place this database
    // never had; from an empty cursor the feed has every event of the backup under its old id,
    // and no id a caller saw before the restore names another event.
    await expectGrpcError(
      gateway.client.listEvents({ cursor: seenBeforeLoss.cursor, pageSize: 10 }),
      status.INVALID_ARGUMENT,
      /cursor/,
    );
    const feed = await readFeed(gateway.client, [fresh, resent.messageId].map(deliveredEvent));
    for (const [eventId, event] of feed.events) {
      const seen = seenBeforeLoss.events.get(eventId);
      if (seen !== undefined) expect({ eventId, event }).toEqual({ eventId, event: seen });
    }
    const ofFinalMessages = [...seenBeforeLoss.events].filter(([, event]) =>
      [...delivered, cancelled].some((id) => event.startsWith(`${id} `)),
    );
    expect(ofFinalMessages.length).toBeGreaterThanOrEqual(4 * 2);
    for (const [eventId, event] of ofFinalMessages) expect(feed.events.get(eventId)).toBe(event);

    // The purged source's feed, from an empty cursor: its kept events, then its new ones.
    shortHistory = gateway.connect(shortHistoryKey);
    const freshShort = await sendShort('short-history-after-restore');
    await finalOf(shortHistory, freshShort);
    const shortFeed = await readFeed(shortHistory, [keptShort, freshShort].map(deliveredEvent));
    expect([...shortFeed.events.values()].filter((event) => event.startsWith(`${purged} `))).toEqual([]);

    // The feed goes on after the restore: a reader that caught up sees what happens next.
    const next = await send('after-the-reader-caught-up');
    await gateway.finalState(next);
    const newer = await readFeed(gateway.client, [deliveredEvent(next)], feed.cursor);
    expect([...newer.events.values()].filter((event) => event.startsWith(`${next} `))).toEqual([
      `${next} ${MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED}`,
      `${next} ${MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED}`,
      `${next} ${MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED}`,
    ]);
  }, 120_000);

  if (target === 'the same server') {
    it("refuses to start on a key ring without the backup's key, naming that key, and starts once it is back", async () => {
      const original = await provisionTestDatabase(kind);
      databases.push(original);
      const gateway = await start(original);
      const backupKeyId = gateway.app.get(KeyRing).activeKeyId;
      const { messageId } = await gateway.client.sendMail({
        ...aSendMailRequest({ subject: 'scheduled-sealed' }, 'key-scheduled-sealed'),
        sendAt: { seconds: Math.floor((Date.now() + DAY) / 1000), nanos: 0 },
      });
      await stop(gateway);
      const restored = await restore(kind, await backUp(kind, original, folder), original, undefined);
      databases.push(restored);
      await prepareRestored(kind, restored);

      // A new ring (the old one lost, or not restored): the gateway stops at start, naming the key.
      const newKey = randomBytes(32).toString('base64');
      const refused = GatewayProcess.spawn({
        ...ENV,
        ...restored.env,
        CONTENT_KEYS: `after-restore-1:${newKey}`,
        GRPC_PORT: String(await freePort()),
      });
      expect((await refused.exited).code).toBe(1);
      expect(refused.logs).toContain(
        `wrapped by content key ${backupKeyId}, which is not in the key ring: put ${backupKeyId} back`,
      );
      expect(refused.logs).not.toContain(newKey);

      // With the backup's ring the restored gateway starts and sends the sealed mail.
      const restarted = await start(restored);
      await restarted.client.rescheduleMessage(messageId, Date.now());
      expect((await restarted.finalState(messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
      expect(driver.callsFor(messageId)).toHaveLength(1);
    }, 60_000);
  }
});
