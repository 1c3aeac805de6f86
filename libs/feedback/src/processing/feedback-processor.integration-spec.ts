import { insertRows, TransactionRunner } from '@mailgateway/database';
import { GatewayMetrics } from '@mailgateway/observability';
import { FeedSignal, OutboxEnqueuer, OutboxHistory, RecipientState } from '@mailgateway/outbox';
import { Suppression, SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import type { FeedbackConfig } from '../feedback.settings';
import { NotificationState } from '../intake/provider-notification.entity';
import type { ProviderFeedback } from '../provider-feedback';
import { FeedbackProcessor } from './feedback-processor.service';

const MATCH_WINDOW_MS = 60 * 60_000;
const CONFIG: FeedbackConfig = {
  processing: { matchWindowMs: MATCH_WINDOW_MS, processIntervalMs: 1_000, softBounceLimit: 3 },
};

/** What the suppression list holds, by address. */
async function suppressionEntries(database: MigratedTestDatabase): Promise<Map<string, Suppression>> {
  const rows: { address: string; scope: string; reason: SuppressionReason; origin: string }[] =
    await database.dataSource.query('SELECT address, scope, reason, origin FROM suppression_entry');
  return new Map(rows.map((row) => [row.address, { ...row, createdAt: 0, expiresAt: null }] as const));
}

describe.each(DATABASE_KINDS)(`${FeedbackProcessor.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let history: OutboxHistory;
  let suppressions: SuppressionList;
  let metrics: GatewayMetrics;
  let sut: FeedbackProcessor;
  let eventIds = 0;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 60_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    history = new OutboxHistory(database.transactions);
  });
  beforeEach(async () => {
    await database.dataSource.query('DELETE FROM suppression_entry');
    suppressions = new SuppressionList(database.transactions);
    metrics = new GatewayMetrics();
    sut = processorOn(database.transactions);
  });
  afterAll(() => database.close());

  function processorOn(transactions: TransactionRunner): FeedbackProcessor {
    return new FeedbackProcessor(transactions, suppressions, new FeedSignal(transactions), CONFIG, metrics);
  }

  async function send(...to: string[]): Promise<string> {
    const [result] = await enqueuer.enqueue([
      {
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({ to: to.map((address) => ({ address, name: '' })) }),
      },
    ]);
    if (result.kind !== 'accepted') throw new Error('not accepted');
    return result.messageId;
  }

  /** What the delivery records: the provider and its id for the message. */
  async function delivered(messageId: string, providerMessageId: string): Promise<void> {
    await database.dataSource.query(
      `UPDATE outbox_message SET status = 'delivered', provider = 'postmark', provider_message_id = '${providerMessageId}'
        WHERE id = '${messageId}'`,
    );
  }

  /** Stores notifications as intake does, due at once. Returns their event ids. */
  async function stored(
    notifications: Partial<ProviderFeedback>[],
    receivedAt = Date.now(),
  ): Promise<string[]> {
    const rows = notifications.map((fields) => {
      const feedback: ProviderFeedback = {
        provider: 'postmark',
        eventId: `event-${++eventIds}`,
        kind: 'delivered',
        recipient: 'ann@example.com',
        detail: '',
        occurredAt: 1_000,
        ...fields,
      };
      return [
        feedback.provider,
        feedback.eventId,
        JSON.stringify(feedback),
        NotificationState.Pending,
        0,
        receivedAt,
        receivedAt,
      ];
    });
    await database.transactions.run((manager) =>
      insertRows(
        manager,
        database.transactions.dialect,
        'provider_notification',
        ['provider', 'event_id', 'feedback', 'state', 'attempts', 'next_attempt_at', 'received_at'],
        rows,
      ),
    );
    return rows.map((row) => row[1] as string);
  }

  async function notification(eventId: string) {
    const [row]: {
      state: string;
      attempts: number;
      message_id: string | null;
      next_attempt_at: string | number;
    }[] = await database.dataSource.query(
      `SELECT state, attempts, message_id, next_attempt_at FROM provider_notification WHERE event_id = '${eventId}'`,
    );
    return { ...row, next_attempt_at: Number(row.next_attempt_at) };
  }

  async function recipientsOf(messageId: string) {
    const found = await history.find('billing', messageId);
    return Object.fromEntries(found!.recipients.map(({ address, state }) => [address, state]));
  }

  async function recipientEventCount(messageId: string): Promise<number> {
    return database.count('message_event', `message_id = '${messageId}' AND recipient IS NOT NULL`);
  }

  async function processAll(now?: number): Promise<void> {
    while ((await sut.processDue(now)) > 0);
  }

  const shuffled = <T>(items: T[]): T[] =>
    items
      .map((item) => ({ item, key: Math.random() }))
      .sort((a, b) => a.key - b.key)
      .map(({ item }) => item);

  it('applies shuffled and repeated notifications to the right recipients, suppressing only what warrants it', async () => {
    const messageId = await send('ann@example.com', 'bob@example.com', 'cy@example.com', 'dee@example.com');
    await delivered(messageId, 'pm-1');
    const about = { providerMessageId: 'pm-1' };
    const complaint = {
      ...about,
      kind: 'complaint' as const,
      recipient: 'ann@example.com',
      occurredAt: 2_000,
      detail: 'abuse',
    };
    const eventIds = await stored(
      shuffled([
        complaint,
        { ...complaint },
        { ...about, kind: 'delivered', recipient: 'ann@example.com', occurredAt: 3_000 },
        { ...about, kind: 'delivered', recipient: 'ann@example.com', occurredAt: 1_000 },
        {
          ...about,
          kind: 'bounce',
          bounceClass: 'hard',
          recipient: 'Bob@Example.com',
          detail: '550 5.1.1 no such user',
        },
        {
          ...about,
          kind: 'bounce',
          bounceClass: 'hard',
          recipient: 'cy@example.com',
          detail: '550 5.7.1 blocked by policy',
        },
      ]),
    );

    await processAll();

    expect(await recipientsOf(messageId)).toEqual({
      'ann@example.com': RecipientState.Complained,
      'bob@example.com': RecipientState.BouncedHard,
      'cy@example.com': RecipientState.BouncedUndetermined,
      'dee@example.com': RecipientState.Sent,
    });
    expect(
      [...(await suppressionEntries(database)).values()]
        .map(({ address, reason, scope }) => [address, reason, scope])
        .sort(),
    ).toEqual([
      ['ann@example.com', SuppressionReason.Complaint, '*'],
      ['bob@example.com', SuppressionReason.HardBounce, '*'],
    ]);
    expect((await suppressionEntries(database)).get('bob@example.com')?.origin).toMatch(
      new RegExp(`^postmark:event-\\d+ \\(message ${messageId}\\)$`),
    );
    for (const eventId of eventIds) {
      expect(await notification(eventId)).toMatchObject({
        state: NotificationState.Processed,
        message_id: messageId,
      });
    }
    const complaints = await metrics.recipientComplaints.get();
    expect(complaints.values).toEqual([{ labels: { source: 'billing', provider: 'postmark' }, value: 1 }]);
    const bounces = await metrics.recipientBounces.get();
    expect(bounces.values.map(({ labels, value }) => [labels.class, value]).sort()).toEqual([
      ['hard', 1],
      ['undetermined', 1],
    ]);

    // Processing every notification again changes nothing.
    const events = await recipientEventCount(messageId);
    await database.dataSource.query(
      `UPDATE provider_notification SET state = 'pending', next_attempt_at = 0 WHERE message_id = '${messageId}'`,
    );
    await processAll();
    expect(await recipientEventCount(messageId)).toBe(events);
    expect((await suppressionEntries(database)).size).toBe(2);
    expect(
      (await metrics.suppressionsAdded.get()).values
        .map(({ labels, value }) => [labels.reason, value])
        .sort(),
    ).toEqual([
      [SuppressionReason.Complaint, 1],
      [SuppressionReason.HardBounce, 1],
    ]);
  });

  it("keeps a notification that comes before the provider's id waiting, then applies it once the id is recorded", async () => {
    const messageId = await send('ann@example.com', 'bob@example.com');
    const now = Date.now();
    const [eventId] = await stored(
      [{ providerMessageId: 'pm-early', kind: 'deferred', detail: '421 try later' }],
      now,
    );

    await processAll(now);

    const waiting = await notification(eventId);
    expect(waiting).toMatchObject({ state: NotificationState.Pending, attempts: 1, message_id: null });
    expect(waiting.next_attempt_at).toBeGreaterThan(now);
    expect(await recipientEventCount(messageId)).toBe(0);

    await delivered(messageId, 'pm-early');
    await processAll(waiting.next_attempt_at);

    expect(await notification(eventId)).toMatchObject({
      state: NotificationState.Processed,
      message_id: messageId,
    });
    expect(await recipientsOf(messageId)).toEqual({
      'ann@example.com': RecipientState.Deferred,
      'bob@example.com': RecipientState.Sent,
    });
  });

  it('gives up on a notification that matched nothing within the window, and on one for an address the message did not have', async () => {
    const messageId = await send('ann@example.com');
    const now = Date.now();
    const [late] = await stored([{ providerMessageId: 'pm-never' }], now - MATCH_WINDOW_MS - 1);
    const [stranger] = await stored([{ gatewayMessageId: messageId, recipient: 'zed@example.com' }], now);

    await processAll(now);

    expect(await notification(late)).toMatchObject({ state: NotificationState.Unmatched, message_id: null });
    expect(await notification(stranger)).toMatchObject({
      state: NotificationState.Unmatched,
      message_id: messageId,
    });
    expect(await recipientEventCount(messageId)).toBe(0);
    expect((await metrics.feedbackUnmatched.get()).values).toEqual([
      { labels: { provider: 'postmark' }, value: 2 },
    ]);
  });

  it('sets aside a stored notification it cannot read, and processes the rest of its batch', async () => {
    const messageId = await send('ann@example.com');
    await database.dataSource.query(
      `INSERT INTO provider_notification (provider, event_id, feedback, state, attempts, next_attempt_at, received_at)
       VALUES ('postmark', 'unreadable', 'not json', 'pending', 0, 0, 0)`,
    );
    await stored([{ gatewayMessageId: messageId }]);

    await processAll();

    expect(await notification('unreadable')).toMatchObject({ state: NotificationState.Unmatched });
    expect(await recipientsOf(messageId)).toEqual({ 'ann@example.com': RecipientState.Delivered });
  });

  it('retries a notification whose processing fails, and sets it aside once it has failed on 300 claims', async () => {
    class BrokenSuppressionList extends SuppressionList {
      override add(): Promise<Suppression[]> {
        return Promise.reject(new Error('suppression list broken'));
      }
    }
    sut = new FeedbackProcessor(
      database.transactions,
      new BrokenSuppressionList(database.transactions),
      new FeedSignal(database.transactions),
      CONFIG,
      metrics,
    );
    const messageId = await send('ann@example.com', 'bob@example.com');
    const [fresh, worn] = await stored([
      { gatewayMessageId: messageId, kind: 'complaint', recipient: 'ann@example.com' },
      { gatewayMessageId: messageId, kind: 'complaint', recipient: 'bob@example.com' },
    ]);
    await database.dataSource.query(
      `UPDATE provider_notification SET attempts = 299 WHERE event_id = '${worn}'`,
    );

    await sut.processDue();

    expect(await notification(fresh)).toMatchObject({ state: NotificationState.Pending, attempts: 1 });
    expect(await notification(worn)).toMatchObject({ state: NotificationState.Unmatched, attempts: 300 });
    // Each failure rolled back its notification's whole transaction: no recipient changed.
    expect(await recipientEventCount(messageId)).toBe(0);
  });

  it('matches by the gateway id the provider echoed, before any provider id is recorded', async () => {
    const messageId = await send('ann@example.com');

    await stored([{ gatewayMessageId: messageId, kind: 'unsubscribe', detail: 'list-unsubscribe' }]);
    await processAll();

    expect(await recipientsOf(messageId)).toEqual({ 'ann@example.com': RecipientState.Unsubscribed });
    expect((await suppressionEntries(database)).get('ann@example.com')?.reason).toBe(
      SuppressionReason.Unsubscribe,
    );
  });

  it("suppresses a drop for the provider's own list as PROVIDER (its unsubscribes as UNSUBSCRIBE), and no other drop", async () => {
    const messageId = await send('ann@example.com', 'bob@example.com', 'cy@example.com');

    await stored([
      { gatewayMessageId: messageId, kind: 'dropped', dropReason: 'provider-list' },
      {
        gatewayMessageId: messageId,
        recipient: 'bob@example.com',
        kind: 'dropped',
        dropReason: 'unsubscribed',
      },
      { gatewayMessageId: messageId, recipient: 'cy@example.com', kind: 'dropped', dropReason: 'other' },
    ]);
    await processAll();

    expect(await recipientsOf(messageId)).toEqual({
      'ann@example.com': RecipientState.Dropped,
      'bob@example.com': RecipientState.Dropped,
      'cy@example.com': RecipientState.Dropped,
    });
    const entries = await suppressionEntries(database);
    expect(entries.get('ann@example.com')).toMatchObject({ reason: SuppressionReason.Provider, scope: '*' });
    expect(entries.get('bob@example.com')?.reason).toBe(SuppressionReason.Unsubscribe);
    expect(entries.has('cy@example.com')).toBe(false);
  });

  it('never counts policy or reputation refusals (x.7.x) toward a soft-bounce streak', async () => {
    const address = 'sue@example.com';
    const refused = async (occurredAt: number) => {
      const messageId = await send(address);
      await stored([
        {
          gatewayMessageId: messageId,
          recipient: address,
          kind: 'bounce',
          bounceClass: 'soft',
          detail: '421-4.7.28 unusual rate of unsolicited mail',
          occurredAt,
        },
      ]);
    };

    for (const occurredAt of [1_000, 2_000, 3_000, 4_000]) await refused(occurredAt);
    await processAll();

    expect((await suppressionEntries(database)).has(address)).toBe(false);
  });

  it('suppresses an address after three soft bounces on different messages with no delivery in between', async () => {
    const address = 'sue@example.com';
    const ids = [
      await send(address),
      await send(address),
      await send(address),
      await send(address),
      await send(address),
    ];
    const softBounce = (messageId: string, occurredAt: number) => ({
      gatewayMessageId: messageId,
      recipient: address,
      kind: 'bounce' as const,
      bounceClass: 'soft' as const,
      detail: '452 4.2.2 mailbox full',
      occurredAt,
    });

    await stored([
      softBounce(ids[0], 1_000),
      softBounce(ids[1], 2_000),
      { gatewayMessageId: ids[2], recipient: address, kind: 'delivered', occurredAt: 3_000 },
      softBounce(ids[3], 4_000),
      softBounce(ids[4], 5_000),
    ]);
    await processAll();
    expect((await suppressionEntries(database)).has(address)).toBe(false);

    const sixth = await send(address);
    await stored([softBounce(sixth, 6_000)]);
    await processAll();
    expect((await suppressionEntries(database)).get(address)?.reason).toBe(SuppressionReason.SoftBounces);
  });

  if (kind === 'postgres') {
    it('shares due notifications between replicas without processing any twice', async () => {
      const messageId = await send('ann@example.com');
      const eventIds = await stored(
        Array.from({ length: 150 }, (_, index) => ({
          gatewayMessageId: messageId,
          kind: 'deferred' as const,
          occurredAt: index,
        })),
      );
      const replica = processorOn((await database.openReplica()).transactions);

      const [here, there] = await Promise.all([sut.processDue(), replica.processDue()]);

      expect(here + there).toBe(150);
      expect(Math.min(here, there)).toBeGreaterThan(0);
      for (const eventId of eventIds) {
        expect(await notification(eventId)).toMatchObject({
          state: NotificationState.Processed,
          attempts: 1,
        });
      }
    });
  }
});
