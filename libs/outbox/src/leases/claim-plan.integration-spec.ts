import { SqlParameters } from '@mailgateway/database';
import {
  aMail,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
} from '@mailgateway/testing';
import { FeedSignal } from '../feed/feed-signal';
import { serializeMail } from '../mail-payload';
import { MessageStatus } from '../message-status';
import { claimDueStatement } from './claim-due-statement';
import { OutboxLeases } from './outbox-leases';

/** Messages waiting for a send time over the next hours: what the claim must not pay for. */
const SCHEDULED = 200_000;
const LEASE_MS = 60_000;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const buffers = (node: PlanNode) => node['Shared Hit Blocks'] + node['Shared Read Blocks'];

/**
 * The claim's plan on PostgreSQL with a large backlog of scheduled messages: the statement
 * claimDue runs, under EXPLAIN ANALYZE, must reach the due messages through the partial index
 * outbox_message_due and touch no more rows than are due, whatever waits for later.
 */
describe(`${OutboxLeases.name} claim plan on postgres`, () => {
  let database: MigratedTestDatabase;
  let tablePages: number;
  const now = Date.now();
  /** Due now: two queued, two scheduled whose time has come, one retry. */
  const due = [
    MessageStatus.Queued,
    MessageStatus.Queued,
    MessageStatus.Scheduled,
    MessageStatus.Scheduled,
    MessageStatus.Retrying,
  ];

  const insertMessages = (count: number, status: MessageStatus, firstDueAt: number, stepMs: number) =>
    database.dataSource.query(
      `INSERT INTO outbox_message (id, source, idempotency_key, content_hash, payload, status, attempts, lease_token,
                                   next_attempt_at, accepted_at, expires_at, updated_at, labels, send_at)
       SELECT gen_random_uuid()::text, 'billing', NULL, md5(i::text), $1::text, $2::varchar, 0, 0,
              $3::bigint + i * $4::bigint, $5::bigint, $3::bigint + i * $4::bigint + 86400000, $5::bigint,
              '{"tags":[],"metadata":{}}', CASE WHEN $2::varchar = 'scheduled' THEN $3::bigint + i * $4::bigint END
         FROM generate_series(1, $6::int) AS i`,
      [serializeMail(aMail()), status, firstDueAt, stepMs, now - 60_000, count],
    );

  /** The claim statement's plan, executed and rolled back: nothing is claimed. */
  const explainClaim = async (limit: number): Promise<PlanNode> => {
    const parameters = new SqlParameters('postgres');
    const statement = claimDueStatement(parameters, true, { now, limit, leaseMs: LEASE_MS });
    const runner = database.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      const [row] = await runner.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement}`,
        parameters.values,
      );
      return (row['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan;
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  };

  beforeAll(async () => {
    database = await openMigratedTestDatabase('postgres');
    // Every 100 ms over the next 5.5 hours, from 10 minutes on (the last test claims at its own now).
    await insertMessages(SCHEDULED, MessageStatus.Scheduled, now + 600_000, 100);
    for (const [index, status] of due.entries())
      await insertMessages(1, status, now - 10_000 - index * 1000, 0);
    await database.dataSource.query('ANALYZE outbox_message');
    const [{ pages }] = await database.dataSource.query(
      `SELECT pg_relation_size('outbox_message') / current_setting('block_size')::int AS pages`,
    );
    tablePages = Number(pages);
  }, 120_000);
  afterAll(() => database.close());

  it.each([
    { limit: 30, claimed: due.length },
    { limit: 2, claimed: 2 },
  ])(
    'with $limit free slots reaches the $claimed due messages by an index range scan of outbox_message_due',
    async ({ limit, claimed }) => {
      const plan = await explainClaim(limit);
      const all = nodes(plan);
      const dueScans = all.filter((node) => node['Index Name'] === 'outbox_message_due');

      expect(all.filter((node) => node['Node Type'].includes('Seq Scan'))).toEqual([]);
      expect(dueScans.map((node) => node['Node Type'])).toEqual(['Index Scan']);
      const [dueScan] = dueScans;
      expect(dueScan['Actual Rows'] * dueScan['Actual Loops']).toBe(claimed);
      expect(dueScan['Rows Removed by Filter'] ?? 0).toBe(0);
      expect(plan['Actual Rows']).toBe(claimed);
      // A handful of index and heap pages; the table holds thousands.
      expect(tablePages).toBeGreaterThan(5_000);
      expect(buffers(dueScan)).toBeLessThan(20);
      expect(buffers(plan)).toBeLessThan(200);
    },
  );

  it('is the statement claimDue runs: the due messages, and none of the scheduled ones, are claimed', async () => {
    const sut = new OutboxLeases(
      database.transactions,
      new FeedSignal(database.transactions),
      testContentSealer(),
    );

    const claims = await sut.claimDue(30, LEASE_MS);

    expect(claims).toHaveLength(due.length);
    expect(await database.count('outbox_message', `status = '${MessageStatus.Sending}'`)).toBe(due.length);
    expect(await database.count('outbox_message', `status = '${MessageStatus.Scheduled}'`)).toBe(SCHEDULED);
  });
});
