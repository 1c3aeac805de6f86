import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { FeedSignal } from '../feed/feed-signal';
import { deserializeMail, mailFingerprint } from '../mail-payload';
import { MessageEventType, MessageStatus } from '../message-status';
import { EnqueueRequest, EnqueueResult, OutboxEnqueuer } from './outbox-enqueuer';
import { SuppressedRecipient } from './suppressed-recipient';

const COMPLAINT: SuppressedRecipient = { address: 'ada@example.org', reason: 'complaint', scope: '*' };
const BOUNCE: SuppressedRecipient = { address: 'bob@example.org', reason: 'hard_bounce', scope: 'billing' };

describe.each(DATABASE_KINDS)(`${OutboxEnqueuer.name} with suppressed recipients on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxEnqueuer;
  const mail = aMail({
    to: [
      { address: 'Ada@Example.org', name: 'Ada' },
      { address: 'carol@example.org', name: 'Carol' },
    ],
    cc: [{ address: 'bob@example.org', name: '' }],
    bcc: [{ address: 'ada@example.org', name: '' }],
  });
  const request = (overrides: Partial<EnqueueRequest> = {}): EnqueueRequest => ({
    source: 'billing',
    idempotencyKey: null,
    mail,
    ...overrides,
  });
  const accepted = (result: EnqueueResult) => {
    if (result.kind !== 'accepted') throw new Error(`expected accepted, got ${result.kind}`);
    return result;
  };
  const rowOf = async (id: string) => {
    const [row] = await database.dataSource.query(
      `SELECT status, payload, content_key_id, wrapped_data_key, content_hash FROM outbox_message WHERE id = ${kind === 'postgres' ? '$1' : '?'}`,
      [id],
    );
    const stored = row as {
      status: string;
      payload: string;
      content_key_id: string;
      wrapped_data_key: string;
      content_hash: string;
    };
    const payload = testContentSealer().open(id, {
      payload: stored.payload,
      contentKeyId: stored.content_key_id,
      wrappedDataKey: stored.wrapped_data_key,
    });
    return { status: stored.status, payload, content_hash: stored.content_hash };
  };
  const eventsOf = (id: string) =>
    database.dataSource.query(
      `SELECT type, attempt, detail, recipient FROM message_event
        WHERE message_id = ${kind === 'postgres' ? '$1' : '?'} ORDER BY sequence`,
      [id],
    );

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 3_600_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
  });
  afterEach(() => database.close());

  it('stores the message without them, wherever they appear, with one RECIPIENT_SUPPRESSED event each', async () => {
    const [result] = await sut.enqueue([request({ suppressed: [COMPLAINT, BOUNCE] })]);
    const { messageId, suppressedRecipients } = accepted(result);

    expect(suppressedRecipients).toEqual(['ada@example.org', 'bob@example.org']);
    const row = await rowOf(messageId);
    expect(row.status).toBe(MessageStatus.Queued);
    const stored = deserializeMail(row.payload);
    expect([stored.to, stored.cc, stored.bcc]).toEqual([
      [{ address: 'carol@example.org', name: 'Carol' }],
      [],
      [],
    ]);
    // The hash is the caller's own mail's: a retry under the same key replays whatever the list says then.
    expect(row.content_hash).toBe(mailFingerprint(mail, testContentFingerprinter().digest()));
    expect(await eventsOf(messageId)).toEqual([
      { type: MessageEventType.Accepted, attempt: 0, detail: 'accepted', recipient: null },
      {
        type: MessageEventType.RecipientSuppressed,
        attempt: 0,
        detail: 'suppressed (complaint, scope *)',
        recipient: 'ada@example.org',
      },
      {
        type: MessageEventType.RecipientSuppressed,
        attempt: 0,
        detail: 'suppressed (hard_bounce, scope billing)',
        recipient: 'bob@example.org',
      },
    ]);
  });

  it('stores a message left with no recipient SUPPRESSED, never claimable', async () => {
    const only = aMail({ to: [{ address: 'ada@example.org', name: '' }] });
    const [result] = await sut.enqueue([
      request({ mail: only, suppressed: [COMPLAINT], sendAt: Date.now() + 60_000 }),
    ]);
    const { messageId } = accepted(result);

    expect((await rowOf(messageId)).status).toBe(MessageStatus.Suppressed);
    expect((await eventsOf(messageId)).map(({ type }: { type: string }) => type)).toEqual([
      MessageEventType.Accepted,
      MessageEventType.RecipientSuppressed,
      MessageEventType.Suppressed,
    ]);
  });

  it('refuses the message when the source refuses suppressed recipients, storing nothing', async () => {
    const [result] = await sut.enqueue([request({ suppressed: [BOUNCE], refuseSuppressed: true })]);

    expect(result).toEqual({ kind: 'suppressed-refused', suppressed: [BOUNCE] });
    const [{ count }] = await database.dataSource.query('SELECT COUNT(*) AS count FROM outbox_message');
    expect(Number(count)).toBe(0);
    const [{ events }] = await database.dataSource.query('SELECT COUNT(*) AS events FROM message_event');
    expect(Number(events)).toBe(0);
  });

  it('replays an earlier message under the same key with no suppressed list, even a refusing source', async () => {
    const [first] = await sut.enqueue([request({ idempotencyKey: 'order-7' })]);
    const [dropped] = await sut.enqueue([request({ idempotencyKey: 'order-7', suppressed: [COMPLAINT] })]);
    const [refused] = await sut.enqueue([
      request({ idempotencyKey: 'order-7', suppressed: [COMPLAINT], refuseSuppressed: true }),
    ]);

    const original = accepted(first);
    expect(accepted(dropped)).toEqual({ ...original, replayed: true, suppressedRecipients: [] });
    expect(accepted(refused)).toEqual({ ...original, replayed: true, suppressedRecipients: [] });
    expect(await eventsOf(original.messageId)).toHaveLength(1);
  });

  it('keeps each message of a group to its own suppressed recipients', async () => {
    const results = await sut.enqueue([
      request({ suppressed: [COMPLAINT] }),
      request(),
      request({ suppressed: [BOUNCE], refuseSuppressed: true }),
    ]);

    expect(results.map((result) => result.kind)).toEqual(['accepted', 'accepted', 'suppressed-refused']);
    const [withDrop, without] = results.slice(0, 2).map((result) => accepted(result));
    expect(withDrop.suppressedRecipients).toEqual(['ada@example.org']);
    expect(without.suppressedRecipients).toEqual([]);
    expect(deserializeMail((await rowOf(without.messageId)).payload).bcc).toEqual(mail.bcc);
    expect(await eventsOf(without.messageId)).toHaveLength(1);
  });
});
