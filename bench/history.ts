// Cost as the history grows: one database bulk-loaded with final messages to each given size, and
// beside it on the same PostgreSQL of the harness's own an almost empty one, its baseline, measured
// in rounds interleaved with it at each size: closed-loop SendMail, the drain of a fixed number of
// freshly due messages (claim plus delivery to a local upstream), GetMessage latency for random
// existing ids; and, for the loaded one, the plans of the hot statements and the tables' sizes.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { aBenchMessage, BenchClient } from './grpc-client';
import { closedLoop, LoadResult } from './load-generator';
import { finalMessageCopies } from './final-message-copies';
import { startOwnPostgres } from './own-postgres';
import {
  BENCH_API_KEY,
  BenchProcess,
  freePort,
  peerScript,
  runGatewayCommand,
  startGateway,
} from './processes';
import { Row } from './report-row';

export interface HistoryOptions {
  /** Final messages in the outbox at each measured step, ascending; the empty outbox comes first. */
  readonly sizes: number[];
  readonly acceptSeconds: number;
}

const DAY_MS = 86_400_000;
/** Final times spread over the last 29 days, inside the 30-day history retention the gateways get. */
const HISTORY_SPAN_MS = 29 * DAY_MS;
const HISTORY_RETENTION_MS = 30 * DAY_MS;
/** Older than this, a final message's content is shredded: about 10% of the history keeps it. */
const BODY_RETENTION_MS = 3 * DAY_MS;
const DRAIN_MESSAGES = 2_000;
const LOAD_CHUNK = 100_000;
const TABLES = ['outbox_message', 'message_event'] as const;
const ACTIVE = "('scheduled', 'queued', 'sending', 'retrying')";
const FINAL = "('delivered', 'failed', 'expired', 'cancelled', 'suppressed')";

interface Step {
  readonly accept: LoadResult;
  /** WAL the server wrote during the accept run, per accepted call. */
  readonly walBytesPerCall: number;
  readonly getMessage: LoadResult;
  readonly drainPerSecond: number;
  readonly drainSeconds: number;
  readonly loadAverage: string;
}

/** A database of the run's server with the environment of the gateways that use it. */
interface Outbox {
  readonly db: Client;
  /** Accepting only. */
  readonly env: Record<string, string>;
  /** Also delivering, to the local upstream. */
  readonly delivering: Record<string, string>;
}

export async function benchHistory(options: HistoryOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const server = await startOwnPostgres();
  const upstreamPort = await freePort();
  const upstream = await BenchProcess.start(
    peerScript('plain-upstream'),
    [String(upstreamPort)],
    {},
    'listening',
  );
  const outboxes: Outbox[] = [];
  const openOutbox = async (name: string): Promise<Outbox> => {
    const admin = new Client({ connectionString: server.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    const env = {
      DATABASE_URL: url.toString(),
      // PostgreSQL needs a content key ring; the database lives for one run.
      CONTENT_KEYS: `history-1:${randomBytes(32).toString('base64')}`,
      HISTORY_RETENTION_MS: String(HISTORY_RETENTION_MS),
      BODY_RETENTION_MS: String(BODY_RETENTION_MS),
    };
    await runGatewayCommand('migrate', env);
    const db = new Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    const outbox = {
      db,
      env,
      delivering: {
        ...env,
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `http://127.0.0.1:${upstreamPort}/send`,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_MAX_CONNECTIONS: '10',
        DELIVERY_CONCURRENCY: '30',
        DELIVERY_POLL_INTERVAL_MS: '10',
      },
    };
    outboxes.push(outbox);
    return outbox;
  };
  try {
    // The baseline keeps an almost empty outbox (what its own runs leave) and is measured again
    // just before each grown size: on a shared machine the load drifts within minutes.
    const empty = await openOutbox(`mailgateway_history_empty_${process.pid}`);
    const grown = await openOutbox(`mailgateway_history_${process.pid}`);
    const seeder = await Seeder.create(grown.db, await deliverTemplate(grown));
    for (const size of [...options.sizes].sort((a, b) => a - b)) {
      const label = `${size.toLocaleString('en')} final`;
      const load = await seeder.growTo(size);
      rows.push({
        measure: `history: bulk load to ${label}`,
        value: load.seconds,
        unit: 's',
        detail:
          `${load.messages} messages and ${load.events} events added (${(load.messages / load.seconds).toFixed(0)} messages/s, ` +
          `${(load.events / load.messages).toFixed(1)} events each), VACUUM ANALYZE included; ` +
          `${(load.shredded * 100).toFixed(0)}% of the seeded messages shredded, the rest keep their sealed payload`,
      });
      // Rounds in the order empty, loaded, loaded, empty: a drift in the machine's load that is
      // steady over the four cancels out of the means.
      const rounds: Step[] = [];
      for (const outbox of [empty, grown, grown, empty]) {
        rounds.push(await measureStep(outbox, outbox === empty ? 0 : seeder.count, options.acceptSeconds));
        console.log(`history: ${label}: round ${rounds.length} of 4 measured`);
      }
      const [firstEmpty, firstGrown, secondGrown, secondEmpty] = rounds;
      rows.push(
        ...stepRows(`empty, beside ${label}`, [firstEmpty, secondEmpty]),
        ...stepRows(label, [firstGrown, secondGrown], [firstEmpty, secondEmpty]),
        ...(await sizeRows(grown.db, label)),
        await planRow(grown.db, label, seeder.count),
      );
    }
    rows.push(...(await sizeRows(empty.db, 'empty, at the end')));
    return rows;
  } finally {
    for (const { db } of outboxes) await db.end().catch(() => undefined);
    await upstream.stop();
    await server.stop();
  }
}

/** One message the gateway itself accepted and delivered: the row and events every seed copies. */
async function deliverTemplate({ db, delivering }: Outbox): Promise<string> {
  const port = await freePort();
  const gateway = await startGateway({ ...delivering, GRPC_PORT: String(port) });
  try {
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY, 1);
    const { messageId } = await client.sendMail(aBenchMessage());
    client.close();
    await waitUntil(
      async () =>
        (await db.query(`SELECT 1 FROM outbox_message WHERE id = $1 AND status IN ${FINAL}`, [messageId]))
          .rowCount === 1,
      30_000,
      'the template message did not reach a final state',
    );
    return messageId;
  } finally {
    await gateway.stop();
  }
}

/**
 * Copies of the template, written on the server with INSERT ... SELECT over generate_series:
 * message i gets a fixed id and idempotency key, a final time spread pseudo-randomly (from a hash
 * of i, so its events get the same) over the last HISTORY_SPAN_MS with every epoch-ms column
 * moved by the same shift, and, when that time is older than BODY_RETENTION_MS, an empty payload,
 * no data key and content_shredded_at, as retention leaves it. Its events follow it in sequence
 * order; sequence and commit_xid come from their defaults, as for the gateway's own writes.
 */
class Seeder {
  count = 0;

  private constructor(
    private readonly db: Client,
    private readonly templateId: string,
    private readonly messageSql: string,
    private readonly eventSql: string,
  ) {}

  static async create(db: Client, templateId: string): Promise<Seeder> {
    // A final time spread pseudo-randomly (from a hash of i) over the last HISTORY_SPAN_MS.
    const copies = await finalMessageCopies(db, {
      idPrefix: 'history-seed-',
      shift: (first) => `$${first}::bigint + ('x' || substr(md5('t' || i), 1, 12))::bit(48)::bigint
                          % ${HISTORY_SPAN_MS}::bigint - t.updated_at`,
      bodyRetentionMs: BODY_RETENTION_MS,
    });
    return new Seeder(db, templateId, copies.messages, copies.events);
  }

  async growTo(
    size: number,
  ): Promise<{ messages: number; events: number; seconds: number; shredded: number }> {
    const started = performance.now();
    const from = Date.now() - HISTORY_SPAN_MS;
    const shredBefore = Date.now() - BODY_RETENTION_MS;
    // Each chunk commits on its own; nothing waits on its flush.
    await this.db.query('SET synchronous_commit = off');
    let events = 0;
    const first = this.count;
    for (let offset = first; offset < size; offset += LOAD_CHUNK) {
      const last = Math.min(size, offset + LOAD_CHUNK) - 1;
      await this.db.query(this.messageSql, [offset, last, this.templateId, shredBefore, from]);
      const inserted = await this.db.query(this.eventSql, [offset, last, this.templateId, from]);
      events += inserted.rowCount ?? 0;
      console.log(`history: loaded ${last + 1} of ${size} messages`);
    }
    await this.db.query('SET synchronous_commit = on');
    await this.db.query('VACUUM (ANALYZE) outbox_message, message_event');
    const seconds = (performance.now() - started) / 1000;
    this.count = size;
    const { rows } = await this.db.query(
      `SELECT COUNT(*) FILTER (WHERE content_shredded_at IS NOT NULL)::float8 / COUNT(*) AS shredded
         FROM outbox_message WHERE idempotency_key LIKE 'history-seed-%'`,
    );
    return { messages: size - first, events, seconds, shredded: rows[0].shredded as number };
  }
}

/**
 * One step: closed-loop SendMail and GetMessage on a gateway that does not deliver; then a
 * delivering gateway drains what the accept run left, and the time from DRAIN_MESSAGES messages
 * falling due at once until none is active is the claim-and-deliver figure.
 */
async function measureStep(
  { db, env, delivering }: Outbox,
  seeded: number,
  acceptSeconds: number,
): Promise<Step> {
  const port = await freePort();
  const gateway = await startGateway({ ...env, GRPC_PORT: String(port), DELIVERY_ENABLED: 'false' });
  let accept: LoadResult;
  let getMessage: LoadResult;
  let walBytesPerCall: number;
  try {
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);
    const accepted: string[] = [];
    const send = () => client.sendMail(aBenchMessage()).then(({ messageId }) => accepted.push(messageId));
    await closedLoop(send, { concurrency: 32, durationMs: 500 });
    const walBefore = await walPosition(db);
    accept = await closedLoop(send, { concurrency: 32, durationMs: acceptSeconds * 1000 });
    walBytesPerCall = (await walBytesSince(db, walBefore)) / accept.requests;
    // Random existing ids: any seeded message, or one this step accepted when nothing is seeded.
    const pick = () =>
      seeded > 0
        ? seededId(Math.floor(Math.random() * seeded))
        : accepted[Math.floor(Math.random() * accepted.length)];
    const get = () => client.getMessage({ messageId: pick() });
    await closedLoop(get, { concurrency: 4, durationMs: 500 });
    getMessage = await closedLoop(get, { concurrency: 4, durationMs: 3_000 });
    client.close();
  } finally {
    await gateway.stop();
  }

  const deliveryPort = await freePort();
  const deliverer = await startGateway({ ...delivering, GRPC_PORT: String(deliveryPort) });
  try {
    const noneActive = async () =>
      (await db.query(`SELECT 1 FROM outbox_message WHERE status IN ${ACTIVE} LIMIT 1`)).rowCount === 0;
    await waitUntil(noneActive, 120_000, 'the accept run left messages undelivered');
    const client = new BenchClient(`127.0.0.1:${deliveryPort}`, BENCH_API_KEY);
    // Due once all are accepted: a batch of 500 takes well under a second even on a loaded machine.
    const dueAt = Date.now() + 5_000;
    const sendAt = { seconds: Math.floor(dueAt / 1000), nanos: (dueAt % 1000) * 1_000_000 };
    for (let offset = 0; offset < DRAIN_MESSAGES; offset += 500) {
      const { results } = await client.sendMailBatch({
        items: Array.from({ length: 500 }, () => ({ ...aBenchMessage(), sendAt })),
      });
      if (results.some((result) => !result.accepted))
        throw new Error('history: a scheduled item was refused');
    }
    client.close();
    if (Date.now() >= dueAt)
      throw new Error('history: the scheduled messages were due before all were accepted');
    await new Promise((resolve) => setTimeout(resolve, dueAt - Date.now()));
    await waitUntil(noneActive, 120_000, 'the due messages were not drained', 10);
    const drainSeconds = (Date.now() - dueAt) / 1000;
    return {
      accept,
      walBytesPerCall,
      getMessage,
      drainSeconds,
      drainPerSecond: DRAIN_MESSAGES / drainSeconds,
      loadAverage: readLoadAverage(),
    };
  } finally {
    await deliverer.stop();
  }
}

/** The id of seeded message i, as the INSERT computes it (md5 of its key, as a UUID). */
function seededId(i: number): string {
  const hex = createHash('md5').update(`history-seed-${i}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Rows of one outbox's rounds (means over them), against the baseline's rounds when given. */
function stepRows(label: string, steps: Step[], empties?: Step[]): Row[] {
  const mean = (of: Step[], value: (step: Step) => number) =>
    of.reduce((sum, step) => sum + value(step), 0) / of.length;
  const each = (value: (step: Step) => number, digits = 1) =>
    steps.map((step) => value(step).toFixed(digits)).join(', ');
  const target = empties ? { kind: 'ratio-at-least' as const, value: 0.833 } : undefined;
  const baseline = (value: (step: Step) => number) =>
    empties ? { name: 'empty, same rounds', value: mean(empties, value) } : undefined;
  const errors = steps.reduce((sum, step) => sum + step.accept.errors + step.getMessage.errors, 0);
  const firstError = steps.map((step) => step.accept.firstError ?? step.getMessage.firstError).find(Boolean);
  const accept = (step: Step) => step.accept.perSecond;
  const drain = (step: Step) => step.drainPerSecond;
  const p99 = (step: Step) => step.getMessage.p99Ms;
  const rows: Row[] = [
    {
      measure: `history: SendMail closed loop, ${label}`,
      value: mean(steps, accept),
      unit: 'calls/s',
      baseline: baseline(accept),
      target,
      detail:
        `rounds ${each(accept)} calls/s, p99 ${each((step) => step.accept.p99Ms)} ms, ` +
        `WAL ${each((step) => step.walBytesPerCall / 1024)} KiB per call; ${errors} errors` +
        `${firstError ? ` (${firstError})` : ''}; load average ${steps.map((step) => step.loadAverage).join(' / ')}`,
    },
    {
      measure: `history: drain of ${DRAIN_MESSAGES} due messages (claim and delivery), ${label}`,
      value: mean(steps, drain),
      unit: 'messages/s',
      baseline: baseline(drain),
      target,
      detail: `all due at once; none active ${each((step) => step.drainSeconds, 2)} s later`,
    },
    empties
      ? {
          measure: `history: GetMessage p99, ${label} / empty`,
          value: mean(steps, p99) / mean(empties, p99),
          unit: 'x',
          target: { kind: 'at-most', value: 2 },
          detail:
            `random seeded ids, 4 callers; p99 ${each(p99)} ms, p50 ${each((step) => step.getMessage.p50Ms)} ms; ` +
            `empty: p99 ${mean(empties, p99).toFixed(1)} ms`,
        }
      : {
          measure: `history: GetMessage p99, ${label}`,
          value: mean(steps, p99),
          unit: 'ms',
          detail: `random ids of its accept runs, 4 callers; p99 ${each(p99)} ms, p50 ${each((step) => step.getMessage.p50Ms)} ms`,
        },
  ];
  return rows;
}

async function walPosition(db: Client): Promise<string> {
  return (await db.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string;
}

async function walBytesSince(db: Client, lsn: string): Promise<number> {
  const { rows } = await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::float8 AS bytes', [lsn]);
  return rows[0].bytes as number;
}

/** Heap, indexes (each) and TOAST of both tables. */
async function sizeRows(db: Client, label: string): Promise<Row[]> {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const rows: Row[] = [];
  for (const table of TABLES) {
    const { rows: sizes } = await db.query(
      `SELECT pg_total_relation_size($1)::float8 AS total, pg_relation_size($1)::float8 AS heap,
              pg_indexes_size($1)::float8 AS indexes,
              COALESCE(pg_total_relation_size(NULLIF(reltoastrelid, 0)), 0)::float8 AS toast,
              (SELECT COUNT(*) FROM ${table})::int AS count
         FROM pg_class WHERE oid = $1::regclass`,
      [table],
    );
    const { rows: indexes } = await db.query(
      `SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid)::float8 AS bytes
         FROM pg_index WHERE indrelid = $1::regclass ORDER BY 2 DESC`,
      [table],
    );
    const [size] = sizes;
    rows.push({
      measure: `history: ${table} size (heap, indexes, TOAST), ${label}`,
      value: size.total / 2 ** 20,
      unit: 'MiB',
      detail:
        `${size.count} rows; heap ${mib(size.heap)}, indexes ${mib(size.indexes)}, TOAST ${mib(size.toast)}; ` +
        indexes
          .map((index: { name: string; bytes: number }) => `${index.name} ${mib(index.bytes)}`)
          .join(', '),
    });
  }
  return rows;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'I/O Read Time'?: number;
  Plans?: PlanNode[];
}

/**
 * The plans of the statements whose cost must not grow with the history: the claim's inner
 * SELECT, the idempotency lookup of SendMail, GetMessage's two reads. A sequential scan of either
 * table in any of them is counted (target: none).
 */
async function planRow(db: Client, label: string, seeded: number): Promise<Row> {
  const { rows: sources } = await db.query('SELECT source FROM outbox_message LIMIT 1');
  const source = sources[0].source as string;
  const randomId = () => seededId(Math.floor(Math.random() * seeded));
  // Read-only statements run under EXPLAIN ANALYZE for random seeded rows; the claim, a locking
  // UPDATE's subquery, is only planned.
  const statements: [string, string, () => unknown[], boolean][] = [
    [
      'claim',
      `SELECT id FROM outbox_message WHERE status IN ${ACTIVE} AND next_attempt_at <= $1
        ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED`,
      () => [Date.now()],
      false,
    ],
    [
      'idempotency',
      'SELECT id, idempotency_key, content_hash, accepted_at FROM outbox_message WHERE source = $1 AND idempotency_key IN ($2)',
      () => [source, `history-seed-${Math.floor(Math.random() * seeded)}`],
      true,
    ],
    [
      'message',
      'SELECT * FROM outbox_message WHERE id = $1 AND source = $2',
      () => [randomId(), source],
      true,
    ],
    [
      'events',
      'SELECT * FROM message_event WHERE message_id = $1 ORDER BY sequence',
      () => [randomId()],
      true,
    ],
  ];
  const described: string[] = [];
  let seqScans = 0;
  await db.query('SET track_io_timing = on');
  for (const [name, sql, parameters, analyze] of statements) {
    const runs = analyze ? 20 : 1;
    let milliseconds = 0;
    let hit = 0;
    let read = 0;
    let ioMilliseconds = 0;
    let scans: PlanNode[] = [];
    for (let run = 0; run < runs; run++) {
      const { rows } = await db.query(
        `EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}FORMAT JSON) ${sql}`,
        parameters(),
      );
      const result = (rows[0]['QUERY PLAN'] as { Plan: PlanNode; 'Execution Time'?: number }[])[0];
      scans = flatten(result.Plan).filter((node) => node['Relation Name'] || node['Index Name']);
      milliseconds += result['Execution Time'] ?? 0;
      hit += result.Plan['Shared Hit Blocks'] ?? 0;
      read += result.Plan['Shared Read Blocks'] ?? 0;
      ioMilliseconds += result.Plan['I/O Read Time'] ?? 0;
    }
    seqScans += scans.filter((node) => node['Node Type'] === 'Seq Scan').length;
    described.push(
      `${name}: ${scans.map((node) => `${node['Node Type']} ${node['Index Name'] ?? node['Relation Name']}`).join(' + ')}` +
        (analyze
          ? ` (mean of ${runs} random rows: ${(milliseconds / runs).toFixed(2)} ms, ${(hit / runs).toFixed(1)} blocks hit, ` +
            `${(read / runs).toFixed(1)} read in ${(ioMilliseconds / runs).toFixed(2)} ms)`
          : ''),
    );
  }
  return {
    measure: `history: sequential scans in the hot statements' plans, ${label}`,
    value: seqScans,
    unit: 'scans',
    target: { kind: 'at-most', value: 0 },
    detail: described.join('; '),
  };
}

function flatten(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(flatten)];
}

async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  failure: string,
  pollMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`history: ${failure} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function readLoadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
