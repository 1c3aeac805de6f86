import { GatewayMetrics } from '@mailgateway/observability';
import {
  FeedSignal,
  MessageRetention,
  OutboxEnqueuer,
  OutboxSchedule,
  RetentionConfig,
  RetentionLoop,
} from '@mailgateway/outbox';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentFingerprinter,
  testContentSealer,
} from '@mailgateway/testing';
import { NotificationState } from './provider-notification.entity';
import { ProviderNotificationRetention } from './provider-notification-retention';

const HISTORY_MS = 3_600_000;
const DAY = 24 * HISTORY_MS;

describe.each(DATABASE_KINDS)(`${ProviderNotificationRetention.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: ProviderNotificationRetention;

  const insert = (
    eventId: string,
    state: NotificationState,
    processedAt: number | null,
    messageId: string | null = null,
  ) =>
    database.dataSource.query(
      `INSERT INTO provider_notification
         (provider, event_id, feedback, state, attempts, next_attempt_at, message_id, received_at, processed_at)
       VALUES ('sendgrid', '${eventId}', '{"recipient":"ada@example.com"}', '${state}', 1, 0,
               ${messageId === null ? 'NULL' : `'${messageId}'`}, 0, ${processedAt === null ? 'NULL' : processedAt})`,
    );
  const kept = async () =>
    (
      await database.dataSource.query<{ event_id: string }[]>(
        'SELECT event_id FROM provider_notification ORDER BY event_id',
      )
    ).map((row) => row.event_id);

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new ProviderNotificationRetention(database.transactions);
  });
  afterEach(() => database.close());

  it('deletes notifications processed or unmatched longer ago than the history retention, never pending ones', async () => {
    await insert('processed-old', NotificationState.Processed, 1_000);
    await insert('unmatched-old', NotificationState.Unmatched, 1_000);
    await insert('processed-recent', NotificationState.Processed, 1_001);
    await insert('pending', NotificationState.Pending, null);

    expect(await sut.purgeBatch(1_000 + HISTORY_MS - 1, 10, HISTORY_MS)).toBe(0);
    expect(await sut.purgeBatch(1_000 + HISTORY_MS, 10, HISTORY_MS)).toBe(2);

    expect(await kept()).toEqual(['pending', 'processed-recent']);
  });

  it('deletes at most a batch, oldest first', async () => {
    for (let index = 0; index < 5; index++) {
      await insert(`e${index}`, NotificationState.Processed, 1_000 + index);
    }

    expect(await sut.purgeBatch(10 * HISTORY_MS, 2, HISTORY_MS)).toBe(2);

    expect(await kept()).toEqual(['e2', 'e3', 'e4']);
  });

  it("deletes a message's notifications with the message under its source's history retention, the rest after the gateway's", async () => {
    const config: RetentionConfig = {
      bodyRetentionMs: 0,
      historyRetentionMs: 90 * DAY,
      intervalMs: 60_000,
      batchSize: 10,
    };
    const outbox = { maxQueuedMessages: 100, messageMaxAgeMs: DAY };
    const signal = new FeedSignal(database.transactions);
    const enqueuer = new OutboxEnqueuer(
      database.transactions,
      outbox,
      signal,
      testContentSealer(),
      testContentFingerprinter(),
    );
    const schedule = new OutboxSchedule(database.transactions, outbox, signal);
    const finalMessage = async (source: string) => {
      const [result] = await enqueuer.enqueue([
        { source, idempotencyKey: null, mail: aMail(), sendAt: null },
      ]);
      const { messageId } = result as { messageId: string };
      await schedule.cancel(source, [messageId]);
      return messageId;
    };
    const billing = await finalMessage('billing');
    const crm = await finalMessage('crm');
    const processedAt = Date.now();
    await insert('billing-bounce', NotificationState.Processed, processedAt, billing);
    await insert('billing-unmatched', NotificationState.Unmatched, processedAt, billing);
    await insert('crm-bounce', NotificationState.Processed, processedAt, crm);
    await insert('never-matched', NotificationState.Unmatched, processedAt);
    const loop = new RetentionLoop(
      new MessageRetention(database.transactions),
      {
        list: () =>
          Promise.resolve([
            { source: 'billing', bodyRetentionMs: null, historyRetentionMs: DAY },
            { source: 'crm', bodyRetentionMs: null, historyRetentionMs: null },
          ]),
      },
      [sut],
      config,
      new GatewayMetrics(),
    );

    // A day on, billing's message goes (its history retention is a day), and with it what names it.
    const round = await loop.runRound(processedAt + DAY + 1_000);
    expect(round.purged).toMatchObject({ outbox_message: 1, provider_notification: 2 });
    expect(await kept()).toEqual(['crm-bounce', 'never-matched']);

    // The gateway's history retention: crm's message with its notification, and the one that never matched.
    await loop.runRound(processedAt + config.historyRetentionMs);
    expect(await kept()).toEqual([]);
  });
});
