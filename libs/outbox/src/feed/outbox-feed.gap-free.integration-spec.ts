import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToWriters, setTimeout as sleep } from 'node:timers/promises';
import { MigratedTestDatabase, openMigratedTestDatabase, openTestDataSource } from '@mailgateway/testing';
import type { DataSource, QueryRunner } from 'typeorm';
import { insertEvents, NewEvent } from '../event-rows';
import { MessageEventType, MessageStatus } from '../message-status';
import { comparePositions, FeedPosition } from './feed-position';
import { FeedEventRecord, FeedFilter, OutboxFeed } from './outbox-feed';

const SOURCE = 'billing';
/** Writes of another source, interleaved with SOURCE's: never part of its feed. */
const OTHER_SOURCE = 'crm';
const WRITERS = 24;
const TRANSACTIONS_PER_WRITER = 40;
/** Share of transactions that roll back: their events never existed. */
const ROLLBACK_SHARE = 0.15;
/** Longest a transaction stays open between its statements and before its end. */
const MAX_HOLD_MS = 25;
const ALL_EVENTS: FeedFilter = { types: [], messageId: null };
const ATTEMPTS_ONLY: FeedFilter = { types: [MessageEventType.AttemptStarted], messageId: null };

interface CommittedEvent {
  sequence: number;
  commitXid: number;
  type: MessageEventType;
}

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/**
 * One writer's transactions: each inserts a few messages and their events in two statements (the
 * second after a pause, so other writers take sequence numbers in between), holds the transaction
 * open a little longer, then commits or rolls back. Commits thus finish out of sequence order.
 */
async function runWriter(dataSource: DataSource, counts: { committed: number; rolledBack: number }) {
  const runner: QueryRunner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    for (let index = 0; index < TRANSACTIONS_PER_WRITER; index++) {
      await runner.startTransaction();
      const source = Math.random() < 0.25 ? OTHER_SOURCE : SOURCE;
      const messageIds = Array.from({ length: randomInt(1, 3) }, () => randomUUID());
      const now = Date.now();
      for (const id of messageIds) {
        await runner.query(
          `INSERT INTO outbox_message (id, source, idempotency_key, content_hash, payload, status,
             attempts, lease_token, next_attempt_at, accepted_at, expires_at, updated_at, labels)
           VALUES ($1, $2, NULL, 'hash', '{}', $3, 1, 1, $4, $4, $5, $4, $6)`,
          [
            id,
            source,
            MessageStatus.Sending,
            now,
            now + 3_600_000,
            JSON.stringify({ tags: [id], metadata: {} }),
          ],
        );
      }
      const event = (messageId: string, type: MessageEventType, attempt: number): NewEvent => ({
        messageId,
        source,
        type,
        attempt,
        detail: type,
        occurredAt: now,
      });
      await insertEvents(
        runner.manager,
        'postgres',
        messageIds.map((id) => event(id, MessageEventType.Accepted, 0)),
      );
      await sleep(randomInt(0, MAX_HOLD_MS));
      await insertEvents(
        runner.manager,
        'postgres',
        messageIds.map((id) => event(id, MessageEventType.AttemptStarted, 1)),
      );
      await sleep(randomInt(0, MAX_HOLD_MS));
      if (Math.random() < ROLLBACK_SHARE) {
        await runner.rollbackTransaction();
        counts.rolledBack++;
      } else {
        await runner.commitTransaction();
        counts.committed++;
      }
    }
  } finally {
    await runner.release();
  }
}

/** Pages `filter` from each returned `next` as fast as it can until `done` says the end was read. */
async function followFeed(
  feed: OutboxFeed,
  filter: FeedFilter,
  done: (page: { next: FeedPosition; short: boolean }) => boolean,
): Promise<{ events: FeedEventRecord[]; reads: number }> {
  const events: FeedEventRecord[] = [];
  let position: FeedPosition | null = null;
  let reads = 0;
  for (;;) {
    // Pages from 1 to 64 events: full pages resume after their last event, short ones at the horizon.
    const limit = randomInt(1, 64);
    const page = await feed.read(SOURCE, filter, position, limit);
    reads++;
    events.push(...page.events);
    position = page.next;
    if (done({ next: page.next, short: page.events.length < limit })) return { events, reads };
    await yieldToWriters();
  }
}

/** The control: pages by `sequence > last` alone, as a feed over sequence numbers would. */
async function followBySequence(dataSource: DataSource, writing: () => boolean): Promise<number[]> {
  const sequences: number[] = [];
  let last = 0;
  for (;;) {
    const stillWriting = writing();
    const rows: { sequence: string }[] = await dataSource.query(
      `SELECT sequence FROM message_event WHERE source = $1 AND sequence > $2 ORDER BY sequence LIMIT 64`,
      [SOURCE, last],
    );
    for (const { sequence } of rows) sequences.push(Number(sequence));
    if (rows.length > 0) last = sequences[sequences.length - 1];
    // One read that started after the last commit and found nothing more: the end.
    if (!stillWriting && rows.length === 0) return sequences;
    await yieldToWriters();
  }
}

function compare(read: readonly FeedEventRecord[], committed: readonly CommittedEvent[]) {
  const readSequences = read.map(({ sequence }) => sequence);
  const distinct = new Set(readSequences);
  const committedSequences = new Set(committed.map(({ sequence }) => sequence));
  return {
    read: read.length,
    missed: [...committedSequences].filter((sequence) => !distinct.has(sequence)).length,
    readTwice: readSequences.length - distinct.size,
    notCommitted: [...distinct].filter((sequence) => !committedSequences.has(sequence)).length,
    outOfOrder: read.filter(
      (event, index) => index > 0 && comparePositions(read[index - 1].position, event.position) >= 0,
    ).length,
  };
}

describe(`${OutboxFeed.name} on postgres under concurrent commits`, () => {
  let database: MigratedTestDatabase;
  let writersSource: DataSource;

  beforeAll(async () => {
    database = await openMigratedTestDatabase('postgres');
    // One connection per writer, so every writer holds its own transaction open.
    writersSource = await openTestDataSource({ ...database.env, DATABASE_POOL_SIZE: String(WRITERS) });
  });
  afterAll(async () => {
    await writersSource?.destroy();
    await database?.close();
  });

  it('reads every committed event exactly once, in increasing positions, while commits finish out of sequence order; paging by sequence alone misses some', async () => {
    const feed = new OutboxFeed(database.transactions);
    const counts = { committed: 0, rolledBack: 0 };
    let writing = true;
    let lastCommitXid: number | null = null;
    // Read to the end: a short page whose next position lies past every committed transaction.
    const atEnd = ({ next, short }: { next: FeedPosition; short: boolean }) =>
      short && lastCommitXid !== null && next.xid >= lastCommitXid;

    const started = Date.now();
    const writers = Promise.all(Array.from({ length: WRITERS }, () => runWriter(writersSource, counts))).then(
      async () => {
        const [{ max }] = await database.dataSource.query(
          'SELECT COALESCE(MAX(commit_xid), 0) AS max FROM message_event',
        );
        lastCommitXid = Number(max);
        writing = false;
      },
    );
    const [, everything, attempts, bySequence] = await Promise.all([
      writers,
      followFeed(feed, ALL_EVENTS, atEnd),
      followFeed(feed, ATTEMPTS_ONLY, atEnd),
      followBySequence(database.dataSource, () => writing),
    ]);
    const runMs = Date.now() - started;

    const committed = (
      await database.dataSource.query(
        'SELECT sequence, commit_xid, type FROM message_event WHERE source = $1 ORDER BY sequence',
        [SOURCE],
      )
    ).map((row: { sequence: string; commit_xid: string; type: MessageEventType }) => ({
      sequence: Number(row.sequence),
      commitXid: Number(row.commit_xid),
      type: row.type,
    })) as CommittedEvent[];
    const commitXids = new Map(committed.map(({ sequence, commitXid }) => [sequence, commitXid]));
    const all = compare(everything.events, committed);
    const filtered = compare(
      attempts.events,
      committed.filter(({ type }) => type === MessageEventType.AttemptStarted),
    );
    const naiveRead = new Set(bySequence);
    const naiveMissed = committed.filter(({ sequence }) => !naiveRead.has(sequence)).length;
    const writtenTotal = await database.count('message_event');
    console.log(
      [
        `Feed gap-free on PostgreSQL: ${WRITERS} writers x ${TRANSACTIONS_PER_WRITER} transactions in ${runMs} ms`,
        `  transactions committed ${counts.committed}, rolled back ${counts.rolledBack}`,
        `  events committed ${writtenTotal} (source ${SOURCE}: ${committed.length})`,
        `  OutboxFeed, all events: read ${all.read} in ${everything.reads} pages, missed ${all.missed}, read twice ${all.readTwice}, out of order ${all.outOfOrder}`,
        `  OutboxFeed, ATTEMPT_STARTED only: read ${filtered.read} in ${attempts.reads} pages, missed ${filtered.missed}, read twice ${filtered.readTwice}, out of order ${filtered.outOfOrder}`,
        `  paging by sequence > last: read ${bySequence.length}, missed ${naiveMissed}`,
      ].join('\n'),
    );

    expect(counts.rolledBack).toBeGreaterThan(0);
    expect(committed.length).toBeGreaterThan(0);
    // Every row got its writing transaction's id from the column's default.
    expect(committed.every(({ commitXid }) => commitXid > 0)).toBe(true);
    expect(all).toEqual({ read: committed.length, missed: 0, readTwice: 0, notCommitted: 0, outOfOrder: 0 });
    expect(filtered).toEqual({
      read: committed.filter(({ type }) => type === MessageEventType.AttemptStarted).length,
      missed: 0,
      readTwice: 0,
      notCommitted: 0,
      outOfOrder: 0,
    });
    // Each event's position is (its transaction's id, its sequence), and carries its labels.
    expect(
      everything.events.filter(
        (event) =>
          event.position.xid !== commitXids.get(event.sequence) ||
          event.position.sequence !== event.sequence ||
          event.tags[0] !== event.messageId,
      ),
    ).toEqual([]);
    // The workload commits late events below sequences already read: a sequence cursor skips them.
    expect(naiveMissed).toBeGreaterThan(0);
  }, 180_000);
});
