import {
  aMail,
  DATABASE_KINDS,
  holdWriter,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { mailFingerprint } from '../mail-payload';
import { MessageEventType, MessageStatus } from '../message-status';
import { FeedSignal } from '../feed/feed-signal';
import { EnqueueRequest, EnqueueResult, OutboxEnqueuer } from './outbox-enqueuer';
import { OutboxOverloadedException } from './outbox-overloaded.exception';

const MAX_AGE_MS = 3_600_000;

describe.each(DATABASE_KINDS)(`${OutboxEnqueuer.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxEnqueuer;
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

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxEnqueuer(
      database.transactions,
      {
        maxQueuedMessages: 5_000,
        messageMaxAgeMs: MAX_AGE_MS,
      },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
  });
  afterEach(() => database.close());

  it('commits the message, queued and due now, with its ACCEPTED event', async () => {
    const mail = aMail({ subject: 'Invoice 42', tags: ['invoice'] });
    const [result] = await sut.enqueue([
      request({ mail, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }),
    ]);
    const { messageId, acceptedAt, replayed } = accepted(result);

    const [row] = await database.dataSource.query(
      `SELECT * FROM outbox_message WHERE id = ${kind === 'postgres' ? '$1' : '?'}`,
      [messageId],
    );
    expect(replayed).toBe(false);
    const content = testContentSealer().open(messageId, {
      payload: row.payload as string,
      contentKeyId: row.content_key_id as string,
      wrappedDataKey: row.wrapped_data_key as string,
    });
    expect(row.payload).not.toContain('Invoice 42');
    expect({ ...row, payload: JSON.parse(content) }).toMatchObject({
      source: 'billing',
      idempotency_key: null,
      status: MessageStatus.Queued,
      attempts: 0,
      lease_token: 0,
      // Keyed: not the sha256 of the content anyone could compute from a guess.
      content_hash: mailFingerprint(mail, testContentFingerprinter().digest()),
      payload: { subject: 'Invoice 42', tags: ['invoice'] },
      content_key_id: 'test-1',
      recipients: JSON.stringify(mail.to.map(({ address }) => address.toLowerCase())),
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    });
    expect(Number(row.accepted_at)).toBe(acceptedAt);
    expect(Number(row.next_attempt_at)).toBe(acceptedAt);
    expect(Number(row.expires_at)).toBe(acceptedAt + MAX_AGE_MS);
    const events = await database.dataSource.query('SELECT message_id, type, attempt FROM message_event');
    expect(events).toEqual([{ message_id: messageId, type: MessageEventType.Accepted, attempt: 0 }]);
  });

  it('replays the same key and content, and refuses the same key with other content, storing nothing', async () => {
    const [first] = await sut.enqueue([request({ idempotencyKey: 'order-1' })]);
    const [replay] = await sut.enqueue([request({ idempotencyKey: 'order-1' })]);
    const [conflict] = await sut.enqueue([
      request({ idempotencyKey: 'order-1', mail: aMail({ subject: 'Other' }) }),
    ]);

    expect(accepted(replay)).toEqual({ ...accepted(first), replayed: true });
    expect(conflict).toEqual({ kind: 'idempotency-conflict', messageId: accepted(first).messageId });
    expect(await database.count('outbox_message')).toBe(1);
    expect(await database.count('message_event')).toBe(1);
  });

  it('replays a key stored before fingerprints were keyed (the unkeyed sha256 form), and still refuses other content', async () => {
    const [first] = await sut.enqueue([request({ idempotencyKey: 'order-legacy' })]);
    const { messageId } = accepted(first);
    const [row] = await database.dataSource.query(
      `SELECT content_hash FROM outbox_message WHERE id = ${kind === 'postgres' ? '$1' : '?'}`,
      [messageId],
    );
    expect(row.content_hash).not.toBe(mailFingerprint(request({}).mail));
    await database.dataSource.query(
      `UPDATE outbox_message SET content_hash = ${kind === 'postgres' ? '$1' : '?'}`,
      [mailFingerprint(request({}).mail)],
    );

    const [replay] = await sut.enqueue([request({ idempotencyKey: 'order-legacy' })]);
    const [conflict] = await sut.enqueue([
      request({ idempotencyKey: 'order-legacy', mail: aMail({ subject: 'Other' }) }),
    ]);
    expect(accepted(replay)).toEqual({ ...accepted(first), replayed: true });
    expect(conflict).toEqual({ kind: 'idempotency-conflict', messageId });
  });

  it('keeps keys per source: two sources with one key in one group commit get two messages', async () => {
    const results = await sut.enqueue([
      request({ source: 'billing', idempotencyKey: 'shared-key' }),
      request({ source: 'crm', idempotencyKey: 'shared-key' }),
      request({ source: 'billing', idempotencyKey: 'shared-key' }),
    ]);

    const [billing, crm, billingAgain] = results.map(accepted);
    expect(crm.messageId).not.toBe(billing.messageId);
    expect([billing.replayed, crm.replayed]).toEqual([false, false]);
    expect(billingAgain).toEqual({ ...billing, replayed: true });
    const rows: { source: string }[] = await database.dataSource.query(
      'SELECT source FROM outbox_message ORDER BY source',
    );
    expect(rows.map(({ source }) => source)).toEqual(['billing', 'crm']);
  });

  it('gives concurrent callers of one key one message, whichever commit wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => sut.enqueue([request({ idempotencyKey: 'raced' })])),
    );

    const ids = new Set(results.map(([result]) => accepted(result).messageId));
    expect(ids.size).toBe(1);
    expect(results.filter(([result]) => !accepted(result).replayed)).toHaveLength(1);
    expect(await database.count('outbox_message')).toBe(1);
  });

  it('refuses callers at once past the queue limit, with a retry delay, and stores none of them', async () => {
    sut = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 3, messageMaxAgeMs: MAX_AGE_MS },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    const release = await holdWriter(database);
    // Callers fill the commits that can run side by side, then the queue behind them.
    const admitted: Promise<EnqueueResult[]>[] = [];
    for (let key = 0; key < 100 && admits(sut); key++) {
      admitted.push(sut.enqueue([request({ idempotencyKey: `admitted-${key}` })]));
    }

    const refused = sut.enqueue([request({ idempotencyKey: 'refused' })]);
    await expect(refused).rejects.toBeInstanceOf(OutboxOverloadedException);
    await expect(refused).rejects.toMatchObject({ retryAfterMs: 250 });
    await release();

    expect(admitted.length).toBeGreaterThanOrEqual(3);
    await Promise.all(admitted);
    expect(await database.count('outbox_message')).toBe(admitted.length);
    expect(await database.count('outbox_message', "idempotency_key = 'refused'")).toBe(0);
  });
});

function admits(enqueuer: OutboxEnqueuer): boolean {
  try {
    enqueuer.admit(1);
    return true;
  } catch (error) {
    if (error instanceof OutboxOverloadedException) return false;
    throw error;
  }
}
