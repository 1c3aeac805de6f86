import { GatewayMetrics } from '@mailgateway/observability';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  waitFor,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { FeedPositionExpiredException } from '../feed/feed-position-expired.exception';
import { FeedSignal } from '../feed/feed-signal';
import { findFeedbackMessage } from '../lookup/feedback-message-lookup';
import { FeedFilter, OutboxFeed } from '../feed/outbox-feed';
import { MessageStatus } from '../message-status';
import { OutboxSchedule } from '../schedule/outbox-schedule';
import { SqlParameters } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { MessageRetention, selectPurgeBatch, selectShredBatch } from './message-retention';
import { RetentionLoop } from './retention-loop';
import type { RetentionConfig } from './retention.settings';
import type { RetentionSweep } from './retention-sweep';
import type { SourceRetentionOverride } from './source-retention';

const HOUR = 3_600_000;
/** A transaction open anywhere in the PostgreSQL cluster (another suite's) holds feed reads back. */
const FEED_WAIT = { timeoutMs: 50_000 };
const DAY = 24 * HOUR;
const OUTBOX = { maxQueuedMessages: 5_000, messageMaxAgeMs: DAY };
const CONFIG: RetentionConfig = {
  bodyRetentionMs: 7 * DAY,
  historyRetentionMs: 90 * DAY,
  intervalMs: 60_000,
  batchSize: 3,
};
const NO_OVERRIDE = (source: string): SourceRetentionOverride => ({
  source,
  bodyRetentionMs: null,
  historyRetentionMs: null,
});

interface MessageRow {
  status: MessageStatus;
  payload: string;
  content_key_id: string | null;
  wrapped_data_key: string | null;
  content_shredded_at: string | number | null;
  updated_at: string | number;
}

describe.each(DATABASE_KINDS)(`${RetentionLoop.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let schedule: OutboxSchedule;
  let overrides: SourceRetentionOverride[];
  let metrics: GatewayMetrics;
  let sut: RetentionLoop;

  const loopOver = (
    transactions: MigratedTestDatabase['transactions'],
    config: RetentionConfig = CONFIG,
    sweeps: RetentionSweep[] = [],
  ) =>
    new RetentionLoop(
      new MessageRetention(transactions),
      { list: () => Promise.resolve(overrides) },
      sweeps,
      config,
      metrics,
    );
  const placeholder = () => (kind === 'postgres' ? '$1' : '?');
  const enqueue = async (source = 'billing', sendAt: number | null = null) => {
    const [result] = await enqueuer.enqueue([{ source, idempotencyKey: null, mail: aMail(), sendAt }]);
    return (result as { messageId: string }).messageId;
  };
  /** A final message (cancelled) and when it became final. */
  const finalMessage = async (source = 'billing') => {
    const id = await enqueue(source);
    await schedule.cancel(source, [id]);
    return { id, finalAt: Number((await rowOf(id))!.updated_at) };
  };
  const rowOf = async (id: string): Promise<MessageRow | undefined> => {
    const [row] = await database.dataSource.query<MessageRow[]>(
      `SELECT status, payload, content_key_id, wrapped_data_key, content_shredded_at, updated_at
         FROM outbox_message WHERE id = ${placeholder()}`,
      [id],
    );
    return row;
  };
  const eventsOf = (id: string) => database.count('message_event', `message_id = '${id}'`);

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    const signal = new FeedSignal(database.transactions);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      OUTBOX,
      signal,
      testContentSealer(),
      testContentFingerprinter(),
    );
    schedule = new OutboxSchedule(database.transactions, OUTBOX, signal);
    overrides = [NO_OVERRIDE('billing'), NO_OVERRIDE('crm')];
    metrics = new GatewayMetrics();
    sut = loopOver(database.transactions);
  });
  afterEach(() => database.close());

  it('shreds content exactly when the body retention has passed since the message became final', async () => {
    const { id, finalAt } = await finalMessage();
    // Simulate a sealed message: the key columns must go with the content.
    await database.dataSource.query(
      `UPDATE outbox_message SET content_key_id = 'kek-1', wrapped_data_key = 'wrapped' WHERE id = ${placeholder()}`,
      [id],
    );

    expect((await sut.runRound(finalAt + CONFIG.bodyRetentionMs - 1)).shredded).toBe(0);
    expect((await rowOf(id))!.payload).not.toBe('');

    const at = finalAt + CONFIG.bodyRetentionMs;
    expect((await sut.runRound(at)).shredded).toBe(1);
    expect(await rowOf(id)).toMatchObject({
      status: MessageStatus.Cancelled,
      payload: '',
      content_key_id: null,
      wrapped_data_key: null,
    });
    expect(Number((await rowOf(id))!.content_shredded_at)).toBe(at);
    // Status, events and the time it became final stay; shredding again changes nothing.
    expect(await eventsOf(id)).toBe(2);
    expect(Number((await rowOf(id))!.updated_at)).toBe(finalAt);
    expect((await sut.runRound(at + 1)).shredded).toBe(0);
  });

  it('keeps the addresses of a row stored before recipients were kept apart, as it shreds it', async () => {
    const { id, finalAt } = await finalMessage();

    await sut.runRound(finalAt + CONFIG.bodyRetentionMs);

    // Feedback still finds its recipients, GetMessage still lists them.
    const [kept] = await database.dataSource.query<{ recipients: string; sender: string }[]>(
      `SELECT recipients, sender FROM outbox_message WHERE id = ${placeholder()}`,
      [id],
    );
    expect(kept).toEqual({ recipients: '["ada@example.org"]', sender: 'billing@example.com' });
    const found = await database.transactions.run((manager) =>
      findFeedbackMessage(manager, database.transactions.dialect, { gatewayMessageId: id, provider: 'x' }),
    );
    expect(found).toEqual({ id, source: 'billing', recipients: ['ada@example.org'] });
  });

  it('shreds a legacy row whose payload cannot be read with no recipients kept, counts it, and goes on', async () => {
    const broken = await finalMessage();
    const readable = await finalMessage();
    await database.dataSource.query(
      `UPDATE outbox_message SET payload = 'not a stored mail', recipients = NULL, content_key_id = NULL
        WHERE id = ${placeholder()}`,
      [broken.id],
    );

    const round = await sut.runRound(Math.max(broken.finalAt, readable.finalAt) + CONFIG.bodyRetentionMs);

    expect(round).toMatchObject({ shredded: 2, unreadable: 1, failures: 0 });
    const rows = await database.dataSource.query<{ id: string; payload: string; recipients: string }[]>(
      `SELECT id, payload, recipients FROM outbox_message ORDER BY id`,
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { id: broken.id, payload: '', recipients: '[]' },
        { id: readable.id, payload: '', recipients: '["ada@example.org"]' },
      ]),
    );
    expect(
      await metrics.registry.getSingleMetricAsString('mailgateway_retention_unreadable_payloads_total'),
    ).toMatch(/ 1$/m);
  });

  it('goes on with the next source when one source fails, counting the failure', async () => {
    const billing = await finalMessage('billing');
    const crm = await finalMessage('crm');
    const messages = new MessageRetention(database.transactions);
    const shred = messages.shredBatch.bind(messages);
    messages.shredBatch = (source, ...rest) =>
      source === 'billing' ? Promise.reject(new Error('unreadable row')) : shred(source, ...rest);
    const loop = new RetentionLoop(messages, { list: () => Promise.resolve(overrides) }, [], CONFIG, metrics);

    const round = await loop.runRound(Math.max(billing.finalAt, crm.finalAt) + CONFIG.historyRetentionMs);

    expect(round).toMatchObject({ shredded: 1, failures: 1, purged: { outbox_message: 1 } });
    expect(await rowOf(billing.id)).toBeDefined();
    expect(await rowOf(crm.id)).toBeUndefined();
    expect(
      await metrics.registry.getSingleMetricAsString('mailgateway_retention_round_failures_total'),
    ).toMatch(/ 1$/m);
  });

  it("deletes the rows other tables keep for a message in the message's purge, under its source's retention", async () => {
    overrides = [{ source: 'billing', bodyRetentionMs: 0, historyRetentionMs: DAY }, NO_OVERRIDE('crm')];
    const billing = await finalMessage('billing');
    const crm = await finalMessage('crm');
    const named: string[][] = [];
    const sweep: RetentionSweep = {
      table: 'provider_notification',
      purgeBatch: () => Promise.resolve(0),
      purgeWithMessages: async (manager: EntityManager, ids) => {
        // In the purge's own transaction: the message is already locked by it, not yet deleted.
        expect(
          await manager.query(`SELECT id FROM outbox_message WHERE id = ${placeholder()}`, [ids[0]]),
        ).toHaveLength(1);
        named.push([...ids]);
        return ids.length * 2;
      },
    };

    const round = await loopOver(database.transactions, CONFIG, [sweep]).runRound(billing.finalAt + DAY);

    expect(named).toEqual([[billing.id]]);
    expect(round.purged).toMatchObject({ outbox_message: 1, provider_notification: 2 });
    expect(await rowOf(crm.id)).toBeDefined();
  });

  it('deletes the message and its events after the history retention, and no other message events', async () => {
    const old = await finalMessage();
    const kept = await finalMessage('crm');
    await database.dataSource.query(
      `UPDATE outbox_message SET updated_at = ${old.finalAt + DAY} WHERE id = ${placeholder()}`,
      [kept.id],
    );

    const before = await sut.runRound(old.finalAt + CONFIG.historyRetentionMs - 1);
    expect(before.purged).toMatchObject({ outbox_message: 0, message_event: 0 });
    expect(await rowOf(old.id)).toBeDefined();

    const round = await sut.runRound(old.finalAt + CONFIG.historyRetentionMs);
    expect(round.purged).toMatchObject({ outbox_message: 1, message_event: 2 });
    expect(await rowOf(old.id)).toBeUndefined();
    expect(await eventsOf(old.id)).toBe(0);
    expect(await rowOf(kept.id)).toBeDefined();
    expect(await eventsOf(kept.id)).toBe(2);
    expect(round.oldestFinalAt).toBe(old.finalAt + DAY);
    expect(await metrics.registry.getSingleMetricAsString('mailgateway_retention_rows_purged_total')).toMatch(
      /table="message_event"} 2/,
    );
  });

  it('never touches a message that is not final, however old', async () => {
    const scheduled = await enqueue('billing', Date.now() + HOUR);
    const queued = await enqueue('billing');

    await sut.runRound(Date.now() + 10 * CONFIG.historyRetentionMs);

    for (const id of [scheduled, queued]) {
      const row = await rowOf(id);
      expect(row).toMatchObject({ content_shredded_at: null });
      expect(row!.payload).not.toBe('');
      expect(await eventsOf(id)).toBe(1);
    }
  });

  it("lets a source's policy override both retentions, 0 shredding at once", async () => {
    overrides = [{ source: 'billing', bodyRetentionMs: 0, historyRetentionMs: HOUR }, NO_OVERRIDE('crm')];
    const billing = await finalMessage('billing');
    const crm = await finalMessage('crm');

    expect((await sut.runRound(billing.finalAt)).shredded).toBe(1);
    expect((await rowOf(billing.id))!.payload).toBe('');
    expect((await rowOf(crm.id))!.payload).not.toBe('');

    await sut.runRound(billing.finalAt + HOUR);
    expect(await rowOf(billing.id)).toBeUndefined();
    expect(await rowOf(crm.id)).toBeDefined();
  });

  it('cuts a body retention longer than the history in force down to it', async () => {
    overrides = [{ source: 'billing', bodyRetentionMs: null, historyRetentionMs: 2 * DAY }];
    const { id, finalAt } = await finalMessage();

    await sut.runRound(finalAt + 2 * DAY - 1);
    expect((await rowOf(id))!.payload).not.toBe('');
    const round = await sut.runRound(finalAt + 2 * DAY);
    expect(round).toMatchObject({ shredded: 1, purged: { outbox_message: 1 } });
  });

  it('works through more than a batch in one round, a batch at a time', async () => {
    const messages = await Promise.all(Array.from({ length: 7 }, () => finalMessage()));
    const latest = Math.max(...messages.map((message) => message.finalAt));

    const round = await sut.runRound(latest + CONFIG.historyRetentionMs);

    expect(round.purged.outbox_message).toBe(7);
    expect(await database.count('outbox_message')).toBe(0);
    expect(await database.count('message_event')).toBe(0);
  });

  it('answers a feed cursor behind purged events OUT_OF_RANGE, and an empty cursor reads what is kept', async () => {
    const feed = new OutboxFeed(database.transactions);
    const { finalAt } = await finalMessage();
    const all: FeedFilter = { types: [], messageId: null };
    // A transaction open anywhere in the cluster holds the feed's newest events back a while.
    const first = await waitFor(
      'the first event in the feed',
      async () => {
        const page = await feed.read('billing', all, null, 1);
        return page.events.length > 0 ? page : undefined;
      },
      FEED_WAIT,
    );
    const cursor = first.events[0].position;
    const later = await finalMessage();
    await database.dataSource.query(
      `UPDATE outbox_message SET updated_at = ${finalAt + DAY} WHERE id = ${placeholder()}`,
      [later.id],
    );

    await sut.runRound(finalAt + CONFIG.historyRetentionMs);

    await expect(feed.read('billing', all, cursor, 10)).rejects.toBeInstanceOf(FeedPositionExpiredException);
    const fresh = await waitFor(
      'the kept events in the feed',
      async () => {
        const page = await feed.read('billing', all, null, 10);
        return page.events.length === 2 ? page : undefined;
      },
      FEED_WAIT,
    );
    expect(fresh.events.map((event) => event.messageId)).toEqual([later.id, later.id]);
    const resumed = await feed.read('billing', all, fresh.next, 10);
    expect(resumed.events).toEqual([]);
  }, 120_000);

  it("keeps another source's cursors valid when one source's events are purged", async () => {
    const feed = new OutboxFeed(database.transactions);
    const all: FeedFilter = { types: [], messageId: null };
    const crm = await finalMessage('crm');
    const crmCursor = await waitFor(
      'the crm feed',
      async () => {
        const page = await feed.read('crm', all, null, 1);
        return page.events.length > 0 ? page.events[0].position : undefined;
      },
      FEED_WAIT,
    );
    await database.dataSource.query(
      `UPDATE outbox_message SET updated_at = ${crm.finalAt + DAY} WHERE id = ${placeholder()}`,
      [crm.id],
    );
    const billing = await finalMessage('billing');
    await database.dataSource.query(
      `UPDATE outbox_message SET updated_at = ${crm.finalAt} WHERE id = ${placeholder()}`,
      [billing.id],
    );

    const round = await sut.runRound(crm.finalAt + CONFIG.historyRetentionMs);

    expect(round.purged.outbox_message).toBe(1);
    const page = await waitFor(
      'the rest of the crm feed',
      async () => {
        const next = await feed.read('crm', all, crmCursor, 10);
        return next.events.length > 0 ? next : undefined;
      },
      FEED_WAIT,
    );
    expect(page.events.map((event) => event.messageId)).toEqual([crm.id]);
  }, 120_000);

  it('runs rounds in the background from start-up, and stops between batches at shutdown', async () => {
    overrides = [{ source: 'billing', bodyRetentionMs: 0, historyRetentionMs: HOUR }];
    const { id } = await finalMessage();
    const loop = loopOver(database.transactions, { ...CONFIG, intervalMs: 24 * HOUR });

    loop.onApplicationBootstrap();
    await waitFor('the background round', async () => ((await rowOf(id))!.payload === '' ? true : undefined));
    // Waiting out the long interval would hang the suite: shutdown wakes the loop instead.
    await loop.beforeApplicationShutdown();

    expect(
      await metrics.registry.getSingleMetricAsString('mailgateway_retention_rows_shredded_total'),
    ).toMatch(/table="outbox_message"} 1/);
  });

  it('runs the other tables sweeps with the history retention, counting what they delete', async () => {
    const calls: [number, number, number][] = [];
    let left = 5;
    const sweep: RetentionSweep = {
      table: 'provider_notification',
      purgeBatch: (now, limit, history) => {
        calls.push([now, limit, history]);
        const purged = Math.min(left, limit);
        left -= purged;
        return Promise.resolve(purged);
      },
    };

    const round = await loopOver(database.transactions, CONFIG, [sweep]).runRound(1_000);

    expect(round.purged.provider_notification).toBe(5);
    expect(calls).toEqual([
      [1_000, 3, CONFIG.historyRetentionMs],
      [1_000, 3, CONFIG.historyRetentionMs],
    ]);
  });

  if (kind === 'postgres') {
    it('shares the work between two replicas: each purges batches while the other holds its own, no row twice', async () => {
      const count = 40;
      const messages = [];
      for (let index = 0; index < count; index++) messages.push(await finalMessage());
      const latest = Math.max(...messages.map((message) => message.finalAt));
      const replica = await database.openReplica();
      const now = latest + CONFIG.historyRetentionMs;
      // Which ids each replica's purge batches took, seen inside their transactions.
      const taken: [string[], string[]] = [[], []];
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const recorder = (replicaIndex: 0 | 1, block: boolean): RetentionSweep => ({
        table: 'recorded',
        purgeBatch: () => Promise.resolve(0),
        purgeWithMessages: async (_manager, ids) => {
          const first = taken[replicaIndex].length === 0;
          taken[replicaIndex].push(...ids);
          if (block && first) {
            // The first replica's first batch stays open (its rows locked) until the other is done.
            holding();
            await released;
          }
          return 0;
        },
      });

      const first = loopOver(database.transactions, { ...CONFIG, batchSize: 2 }, [
        recorder(0, true),
      ]).runRound(now);
      await held;
      const second = await loopOver(replica.transactions, { ...CONFIG, batchSize: 2 }, [
        recorder(1, false),
      ]).runRound(now);
      release();
      const rounds = [await first, second];

      // The second replica did everything but the batch the first held, without waiting for it.
      expect(taken[0]).toHaveLength(2);
      expect(taken[1]).toHaveLength(count - 2);
      expect(new Set([...taken[0], ...taken[1]])).toEqual(new Set(messages.map((message) => message.id)));
      expect(rounds.map((round) => round.purged.outbox_message)).toEqual([2, count - 2]);
      expect(rounds[0].purged.message_event + rounds[1].purged.message_event).toBe(2 * count);
      expect(await database.count('outbox_message')).toBe(0);
      expect(await database.count('message_event')).toBe(0);
    });

    it.each([
      ['shred', selectShredBatch, 'outbox_message_unshredded'],
      ['purge', selectPurgeBatch, 'outbox_message_final'],
    ])(
      'selects each %s batch by a range scan of its partial index, not a table scan',
      async (_batch, statement, index) => {
        await finalMessage();
        const session = database.dataSource.createQueryRunner();
        await session.query('ANALYZE outbox_message');
        // A table this small is cheaper to read whole: the question is whether the index serves.
        await session.query('SET enable_seqscan = off');
        // The statement MessageRetention runs, with its parameters.
        const parameters = new SqlParameters('postgres');
        const sql = statement('postgres', parameters, 'billing', 1, 500);
        const rows = await session
          .query(`EXPLAIN ${sql}`, parameters.values)
          .finally(() => session.release());
        const plan = (rows as { 'QUERY PLAN': string }[]).map((row) => row['QUERY PLAN']).join('\n');
        expect(plan).toContain('LockRows');
        expect(plan).toContain(`Index Scan using ${index} on outbox_message`);
        expect(plan).toMatch(
          /Index Cond: \(\(\(source\)::text = 'billing'::text\) AND \(updated_at <= '?1'?(::bigint)?\)\)/,
        );
        expect(plan).not.toContain('Sort');
      },
    );
  }
});
