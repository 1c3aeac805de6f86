import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { FeedSignal } from '../feed/feed-signal';
import { MessageEventType, MessageStatus } from '../message-status';
import { EnqueueRequest, EnqueueResult, OutboxEnqueuer } from './outbox-enqueuer';

const MAX_AGE_MS = 3_600_000;

/** The commit itself: the API key checked at it, keys taken before and within it, its size. */
describe.each(DATABASE_KINDS)(`${OutboxEnqueuer.name} commit on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxEnqueuer;
  const at = (index: number) => (kind === 'postgres' ? `$${index}` : '?');
  const request = (overrides: Partial<EnqueueRequest> = {}): EnqueueRequest => ({
    source: 'billing',
    idempotencyKey: null,
    mail: aMail(),
    ...overrides,
  });
  const accepted = (result: EnqueueResult) => {
    if (result.kind !== 'accepted') throw new Error(`expected accepted, got ${result.kind}`);
    return result;
  };
  const addKey = async (prefix: string, key: { revokedAt?: number; expiresAt?: number } = {}) => {
    await database.dataSource.query(
      `INSERT INTO api_key (prefix, source, key_hash, created_at, expires_at, revoked_at)
         VALUES (${at(1)}, 'billing', 'hash', 0, ${at(2)}, ${at(3)})`,
      [prefix, key.expiresAt ?? null, key.revokedAt ?? null],
    );
  };
  const eventsOf = async (messageId: string): Promise<{ type: string; detail: string }[]> =>
    database.dataSource.query(
      `SELECT type, detail FROM message_event WHERE message_id = ${at(1)} ORDER BY sequence`,
      [messageId],
    );

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: MAX_AGE_MS },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    await database.dataSource.query(
      `INSERT INTO api_source (name, roles, created_at, updated_at) VALUES ('billing', 'mail.send', 0, 0)`,
    );
  });
  afterEach(() => database.close());

  it('stores the message of a good key, and nothing for a revoked, an expired or an unknown key', async () => {
    await addKey('good', { expiresAt: Date.now() + 60_000 });
    await addKey('revoked', { revokedAt: Date.now() - 1 });
    await addKey('expired', { expiresAt: Date.now() - 1 });

    const results = await sut.enqueue([
      request({ apiKeyPrefix: 'good' }),
      request({ apiKeyPrefix: 'revoked', idempotencyKey: 'r-1' }),
      request({ apiKeyPrefix: 'expired' }),
      request({ apiKeyPrefix: 'missing' }),
    ]);

    expect(results.slice(1)).toEqual([
      { kind: 'credential-refused', failure: 'revoked' },
      { kind: 'credential-refused', failure: 'expired' },
      { kind: 'credential-refused', failure: 'unknown' },
    ]);
    const { messageId } = accepted(results[0]);
    const rows: { id: string }[] = await database.dataSource.query('SELECT id FROM outbox_message');
    expect(rows).toEqual([{ id: messageId }]);
    expect(await database.count('message_event')).toBe(1);
    expect(await database.count('message_event', `message_id = '${messageId}'`)).toBe(1);
  });

  it('checks the key at the commit: revoked after an accepted send, the next send is refused', async () => {
    await addKey('rotating');
    const [first] = await sut.enqueue([request({ apiKeyPrefix: 'rotating' })]);
    accepted(first);
    await database.dataSource.query(`UPDATE api_key SET revoked_at = ${at(1)}`, [Date.now()]);

    const [second] = await sut.enqueue([request({ apiKeyPrefix: 'rotating' })]);

    expect(second).toEqual({ kind: 'credential-refused', failure: 'revoked' });
    expect(await database.count('outbox_message')).toBe(1);
    expect(await database.count('message_event')).toBe(1);
  });

  if (kind === 'postgres') {
    it('waits for a revocation being committed and then refuses the send', async () => {
      await addKey('racing');
      const revoker = database.transactions.dedicatedConnection('revoker');
      await revoker.connect();
      try {
        await revoker.query('BEGIN');
        await revoker.query('UPDATE api_key SET revoked_at = 1');
        let settled = false;
        const send = sut.enqueue([request({ apiKeyPrefix: 'racing' })]).finally(() => (settled = true));
        // The commit's statement reaches the key's row lock and waits there.
        while (
          !settled &&
          Number(
            (
              await revoker.query(
                `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
              )
            ).rows[0].count,
          ) === 0
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await revoker.query('COMMIT');

        expect(await send).toEqual([{ kind: 'credential-refused', failure: 'revoked' }]);
        expect(await database.count('outbox_message')).toBe(0);
      } finally {
        await revoker.end();
      }
    });
  }

  it('refuses a revoked key even for a replay of a stored message', async () => {
    await addKey('old');
    const [first] = await sut.enqueue([request({ apiKeyPrefix: 'old', idempotencyKey: 'k' })]);
    accepted(first);
    await database.dataSource.query(`UPDATE api_key SET revoked_at = 1`);

    const [replay] = await sut.enqueue([request({ apiKeyPrefix: 'old', idempotencyKey: 'k' })]);

    expect(replay).toEqual({ kind: 'credential-refused', failure: 'revoked' });
  });

  it('stores no suppression event for a refused key, and all of them for a good one', async () => {
    await addKey('good');
    await addKey('revoked', { revokedAt: 1 });
    const mail = aMail({ to: [{ address: 'Ada@Example.org', name: 'Ada' }] });
    const suppressed = [{ address: 'ada@example.org', reason: 'complaint', scope: '*' }] as const;

    const [refused, stored] = await sut.enqueue([
      request({ mail, suppressed, apiKeyPrefix: 'revoked' }),
      request({ mail, suppressed, apiKeyPrefix: 'good' }),
    ]);

    expect(refused).toEqual({ kind: 'credential-refused', failure: 'revoked' });
    const { messageId, suppressedRecipients } = accepted(stored);
    expect(suppressedRecipients).toEqual(['ada@example.org']);
    expect((await eventsOf(messageId)).map(({ type }) => type)).toEqual([
      MessageEventType.Accepted,
      MessageEventType.RecipientSuppressed,
      MessageEventType.Suppressed,
    ]);
    expect(await database.count('message_event')).toBe(3);
    expect(await database.count('outbox_message')).toBe(1);
  });

  it('checks no key for a caller without one (a certificate)', async () => {
    const [result] = await sut.enqueue([request({ apiKeyPrefix: null })]);

    expect(accepted(result).replayed).toBe(false);
    expect(await database.count('outbox_message')).toBe(1);
  });

  it('replays and conflicts against an earlier commit and within the group, storing only the new', async () => {
    const [earlier] = await sut.enqueue([request({ idempotencyKey: 'stored' })]);
    const other = aMail({ subject: 'Other' });

    const results = await sut.enqueue([
      request({ idempotencyKey: 'stored' }),
      request({ idempotencyKey: 'stored', mail: other }),
      request({ idempotencyKey: 'fresh' }),
      request({ idempotencyKey: 'fresh' }),
      request({ idempotencyKey: 'fresh', mail: other }),
    ]);

    const { messageId: earlierId } = accepted(earlier);
    expect(results[0]).toEqual({ ...accepted(earlier), replayed: true });
    expect(results[1]).toEqual({ kind: 'idempotency-conflict', messageId: earlierId });
    const fresh = accepted(results[2]);
    expect(fresh.replayed).toBe(false);
    expect(results[3]).toEqual({ ...fresh, replayed: true });
    expect(results[4]).toEqual({ kind: 'idempotency-conflict', messageId: fresh.messageId });
    expect(await database.count('outbox_message')).toBe(2);
    expect(await database.count('message_event')).toBe(2);
  });

  it('stores a later request of the group under its own good key when the earlier one with the same idempotency key is refused', async () => {
    await addKey('good');
    await addKey('revoked', { revokedAt: 1 });

    const [refused, stored] = await sut.enqueue([
      request({ apiKeyPrefix: 'revoked', idempotencyKey: 'k' }),
      request({ apiKeyPrefix: 'good', idempotencyKey: 'k' }),
    ]);

    expect(refused).toEqual({ kind: 'credential-refused', failure: 'revoked' });
    const { messageId, replayed } = accepted(stored);
    expect(replayed).toBe(false);
    expect(await eventsOf(messageId)).toEqual([{ type: MessageEventType.Accepted, detail: 'accepted' }]);
    expect(await database.count('outbox_message')).toBe(1);
  });

  it('stores a scheduled message as scheduled, with the time in its ACCEPTED event', async () => {
    const sendAt = Date.now() + 86_400_000;

    const [result] = await sut.enqueue([request({ sendAt })]);

    const { messageId } = accepted(result);
    const [row] = await database.dataSource.query(
      `SELECT status, send_at, next_attempt_at, expires_at FROM outbox_message WHERE id = ${at(1)}`,
      [messageId],
    );
    expect(row.status).toBe(MessageStatus.Scheduled);
    expect([Number(row.send_at), Number(row.next_attempt_at), Number(row.expires_at)]).toEqual([
      sendAt,
      sendAt,
      sendAt + MAX_AGE_MS,
    ]);
    expect(await eventsOf(messageId)).toEqual([
      {
        type: MessageEventType.Accepted,
        detail: `accepted; scheduled for ${new Date(sendAt).toISOString()}`,
      },
    ]);
  });

  it('commits a batch of 500 as 500 messages, each with its ACCEPTED event', async () => {
    await addKey('good');
    const batch = Array.from({ length: 500 }, (_item, index) =>
      request({ idempotencyKey: `batch-${index}`, apiKeyPrefix: 'good' }),
    );

    const results = await sut.enqueue(batch);

    const ids = new Set(results.map((result) => accepted(result).messageId));
    expect(ids.size).toBe(500);
    expect(await database.count('outbox_message')).toBe(500);
    const events: { message_id: string; type: string }[] = await database.dataSource.query(
      'SELECT message_id, type FROM message_event',
    );
    expect(new Set(events.map(({ message_id }) => message_id))).toEqual(ids);
    expect(events.every(({ type }) => type === MessageEventType.Accepted)).toBe(true);
    expect(events).toHaveLength(500);
  });
});
