// The retention soak: unary SendMail at a steady open-loop rate into a gateway that delivers and
// applies retention, on an outbox that already holds one history retention's worth of final
// messages, so the retention loop deletes from the first second about as many as arrive. Every
// 10 seconds it samples latency, memory, row counts, table and index sizes and dead tuples.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { finalMessageCopies } from './final-message-copies';
import { aBenchMessage, BenchClient } from './grpc-client';
import { openLoop } from './load-generator';
import {
  BENCH_API_KEY,
  BenchProcess,
  freePort,
  peerScript,
  runGatewayCommand,
  startGateway,
} from './processes';
import { Row } from './report-row';

export interface SoakOptions {
  /** The server the soak's database is created on (and dropped from at its end). */
  readonly serverUrl: string;
  /** Which server that is, for the report. */
  readonly serverName: string;
  readonly seconds: number;
  readonly warmUpSeconds: number;
  readonly ratePerSecond: number;
  /** Where the rate came from, for the report. */
  readonly rateSource: string;
  readonly historyRetentionMs: number;
  readonly bodyRetentionMs: number;
}

const WINDOW_MS = 10_000;
const TABLES = ['outbox_message', 'message_event'] as const;
type Table = (typeof TABLES)[number];
const FINAL = "('delivered', 'failed', 'expired', 'cancelled', 'suppressed')";
const ACTIVE = "('scheduled', 'queued', 'sending', 'retrying')";

interface TableSample {
  /**
   * COUNT(*), not pg_stat_user_tables.n_live_tup: a VACUUM replaces that with an estimate, which
   * was 30% low until the next ANALYZE in a trial run.
   */
  readonly liveRows: number;
  readonly deadRows: number;
  readonly totalBytes: number;
  readonly heapBytes: number;
  readonly indexBytes: number;
  readonly autovacuums: number;
}

export interface SoakWindow {
  /** Seconds since the measured part began at the window's end; warm-up windows end at 0 or before. */
  readonly endsAtSecond: number;
  readonly warmUp: boolean;
  readonly calls: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMiB: number;
  /** Messages not yet final: delivery keeping up shows as a small, flat backlog. */
  readonly backlog: number;
  readonly loadAverage: number;
  readonly tables: Record<Table, TableSample>;
}

export interface SoakResult {
  readonly rows: Row[];
  readonly windows: SoakWindow[];
  readonly peakRssMiB: number;
}

export async function soak(options: SoakOptions): Promise<SoakResult> {
  const { seconds, warmUpSeconds, ratePerSecond, historyRetentionMs, bodyRetentionMs } = options;
  const database = await createDatabase(options.serverUrl);
  const upstreamPort = await freePort();
  const upstream = await BenchProcess.start(
    peerScript('plain-upstream'),
    [String(upstreamPort)],
    {},
    'listening',
  );
  const db = new Client({ connectionString: database.url });
  let gateway: BenchProcess | undefined;
  try {
    await db.connect();
    const server = await describeServer(db);
    // Production defaults for delivery and the retention loop; only the two retentions are set.
    const env = {
      DATABASE_URL: database.url,
      // PostgreSQL needs a content key ring; the soak's database lives for one run.
      CONTENT_KEYS: `soak-1:${randomBytes(32).toString('base64')}`,
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: `http://127.0.0.1:${upstreamPort}/send`,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      HISTORY_RETENTION_MS: String(historyRetentionMs),
      BODY_RETENTION_MS: String(bodyRetentionMs),
    };
    const seeded = await seedHistory(db, env, ratePerSecond, historyRetentionMs, bodyRetentionMs);
    const before = await exactCounts(db);

    const loadAtStart = readLoadAverage();
    const port = await freePort();
    gateway = await startGateway({ ...env, GRPC_PORT: String(port) });
    const running = gateway;
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);

    // Calls go to the window they were due in; samples close each window as it ends.
    const totalWindows = Math.ceil(((warmUpSeconds + seconds) * 1000) / WINDOW_MS);
    const latencies: number[][] = Array.from({ length: totalWindows }, () => []);
    const errors: number[] = Array.from({ length: totalWindows }, () => 0);
    const samples: Promise<Omit<SoakWindow, 'calls' | 'errors' | 'p50Ms' | 'p99Ms'>>[] = [];
    const warmUpWindows = Math.ceil((warmUpSeconds * 1000) / WINDOW_MS);
    const takeSample = () => {
      const index = samples.length;
      samples.push(
        sampleWindow(db, running).then((sample) => ({
          ...sample,
          endsAtSecond: ((index + 1 - warmUpWindows) * WINDOW_MS) / 1000,
          warmUp: index < warmUpWindows,
        })),
      );
    };
    const atStart = await sampleWindow(db, running);
    const sampler = setInterval(() => samples.length < totalWindows && takeSample(), WINDOW_MS);
    const load = await openLoop(() => client.sendMail(aBenchMessage()), {
      ratePerSecond,
      durationMs: (warmUpSeconds + seconds) * 1000,
      record: (dueMs, latencyMs) => {
        const index = Math.min(totalWindows - 1, Math.floor(dueMs / WINDOW_MS));
        if (latencyMs === undefined) errors[index]++;
        else latencies[index].push(latencyMs);
      },
    });
    // The last window's sample may still be due: take it now rather than lose it.
    while (samples.length < totalWindows) takeSample();
    clearInterval(sampler);
    client.close();
    const loadAtEnd = readLoadAverage();
    const peakRssMiB = running.peakRssMiB();
    const windows = (await Promise.all(samples)).map((sample, index) => {
      const { p50, p99 } = quantiles(latencies[index]);
      return { ...sample, calls: latencies[index].length, errors: errors[index], p50Ms: p50, p99Ms: p99 };
    });
    await running.stop();
    gateway = undefined;
    const after = await exactCounts(db);

    const measured = windows.filter((window) => !window.warmUp);
    const third = Math.max(1, Math.floor(measured.length / 3));
    const first = measured.slice(0, third);
    const last = measured.slice(-third);
    const firstCalls = quantiles(latencies.slice(warmUpWindows, warmUpWindows + third).flat());
    const lastCalls = quantiles(latencies.slice(warmUpWindows + measured.length - third).flat());
    const mean = (of: SoakWindow[], value: (window: SoakWindow) => number) =>
      of.reduce((sum, window) => sum + value(window), 0) / of.length;
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    const setting =
      `${options.serverName}, autovacuum ${server.autovacuum}, ${server.version}; ` +
      `${ratePerSecond} calls/s (${options.rateSource}) for ${seconds} s after ${warmUpSeconds} s of warm-up, ` +
      `delivery on (http driver, local upstream), HISTORY_RETENTION_MS ${historyRetentionMs}, BODY_RETENTION_MS ${bodyRetentionMs}, ` +
      `retention loop at its defaults; seeded ${seeded.messages} final messages (${seeded.events} events) over the last ` +
      `${historyRetentionMs / 1000} s in ${seeded.seconds.toFixed(0)} s; load average ${loadAtStart} at start, ${loadAtEnd} at end`;
    const rows: Row[] = [
      {
        measure: 'soak: rate, database and load',
        value: ratePerSecond,
        unit: 'calls/s',
        detail: setting,
      },
      {
        measure: 'soak: SendMail p99, last third / first third',
        value: lastCalls.p99 / firstCalls.p99,
        unit: 'x',
        target: { kind: 'at-most', value: 1.5 },
        detail:
          `p99 ${firstCalls.p99.toFixed(1)} ms first third, ${lastCalls.p99.toFixed(1)} ms last third; ` +
          `p50 ${firstCalls.p50.toFixed(1)} ms, ${lastCalls.p50.toFixed(1)} ms; whole soak p99 ${load.p99Ms.toFixed(1)} ms, ` +
          `${load.requests} calls, ${load.errors} errors${load.firstError ? ` (${load.firstError})` : ''}`,
      },
    ];
    for (const table of TABLES) {
      const size = (of: SoakWindow[]) => mean(of, (window) => window.tables[table].totalBytes);
      rows.push({
        measure: `soak: ${table} size (table, indexes, TOAST), last third / first third`,
        value: size(last) / size(first),
        unit: 'x',
        target: { kind: 'at-most', value: 1.05 },
        detail:
          `${mib(size(first))} first third, ${mib(size(last))} last third; heap ` +
          `${mib(mean(first, (window) => window.tables[table].heapBytes))} to ${mib(mean(last, (window) => window.tables[table].heapBytes))}, indexes ` +
          `${mib(mean(first, (window) => window.tables[table].indexBytes))} to ${mib(mean(last, (window) => window.tables[table].indexBytes))}`,
      });
      rows.push({
        measure: `soak: ${table} rows, last third / first third`,
        value:
          mean(last, (window) => window.tables[table].liveRows) /
          mean(first, (window) => window.tables[table].liveRows),
        unit: 'x',
        detail:
          `rows ${mean(first, (window) => window.tables[table].liveRows).toFixed(0)} first third, ` +
          `${mean(last, (window) => window.tables[table].liveRows).toFixed(0)} last third; ` +
          `counted: ${before[table]} before the soak, ${after[table]} after; dead tuples ` +
          `${mean(first, (window) => window.tables[table].deadRows).toFixed(0)} first third, ` +
          `${mean(last, (window) => window.tables[table].deadRows).toFixed(0)} last third, ` +
          `${Math.max(...measured.map((window) => window.tables[table].deadRows))} at most; ` +
          `autovacuum ran ${measured[measured.length - 1].tables[table].autovacuums - atStart.tables[table].autovacuums} times`,
      });
    }
    rows.push({
      measure: 'soak: delivery backlog (messages not final), last third',
      value: mean(last, (window) => window.backlog),
      unit: 'messages',
      detail: `first third ${mean(first, (window) => window.backlog).toFixed(0)}, at most ${Math.max(...measured.map((window) => window.backlog))}`,
    });
    rows.push({
      measure: 'soak: gateway RSS, last third - first third',
      value: mean(last, (window) => window.rssMiB) - mean(first, (window) => window.rssMiB),
      unit: 'MiB',
      detail: `first third ${mean(first, (window) => window.rssMiB).toFixed(1)} MiB, last third ${mean(last, (window) => window.rssMiB).toFixed(1)} MiB, peak ${peakRssMiB.toFixed(1)} MiB`,
    });
    return { rows, windows, peakRssMiB };
  } finally {
    await gateway?.stop();
    await upstream.stop();
    await db.end();
    await database.drop();
  }
}

/** A database of the soak's own on the server, migrated; dropped at the end (it is large). */
async function createDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mailgateway_soak_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await runGatewayCommand('migrate', { DATABASE_URL: url.toString() });
  return { url: url.toString(), drop: () => admin(`DROP DATABASE ${name} WITH (FORCE)`) };
}

async function describeServer(db: Client): Promise<{ autovacuum: string; version: string }> {
  const { rows } = await db.query(
    `SELECT current_setting('autovacuum') AS autovacuum, 'PostgreSQL ' || current_setting('server_version') AS version`,
  );
  return rows[0] as { autovacuum: string; version: string };
}

/**
 * The outbox as a gateway leaves it after running at `ratePerSecond` for one history retention:
 * that many final messages a second, their final times spread evenly over the last
 * `historyRetentionMs`, those older than the body retention already shredded. Each is a copy of
 * one message the gateway itself accepted and delivered (its row and its events, times shifted),
 * written with INSERT ... SELECT over generate_series. Rows already past the history retention by
 * the time the load is done are deleted, and a VACUUM ANALYZE leaves the tables as a freshly
 * loaded database: the soak then starts at the plateau, deleting about as many as arrive.
 */
async function seedHistory(
  db: Client,
  env: Record<string, string>,
  ratePerSecond: number,
  historyRetentionMs: number,
  bodyRetentionMs: number,
): Promise<{ messages: number; events: number; seconds: number }> {
  const started = performance.now();
  const port = await freePort();
  const gateway = await startGateway({ ...env, GRPC_PORT: String(port) });
  let templateId: string;
  try {
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY, 1);
    templateId = (await client.sendMail(aBenchMessage())).messageId;
    client.close();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await db.query(
        `SELECT status FROM outbox_message WHERE id = $1 AND status IN ${FINAL}`,
        [templateId],
      );
      if (rows.length > 0) break;
      if (Date.now() > deadline)
        throw new Error('soak: the template message did not reach a final state in 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await gateway.stop();
  }

  // Final times spread evenly over the last history retention: copy i of count at i/count of it.
  const copies = await finalMessageCopies(db, {
    idPrefix: 'soak-seed-',
    shift: (first) =>
      `$${first}::bigint + (i * $${first + 1}::bigint) / $${first + 2}::bigint - t.updated_at`,
    bodyRetentionMs,
  });

  const count = Math.round((ratePerSecond * historyRetentionMs) / 1000);
  const from = Date.now() - historyRetentionMs;
  const shredBefore = Date.now() - bodyRetentionMs;
  let events = 0;
  const chunk = 50_000;
  for (let offset = 0; offset < count; offset += chunk) {
    const range = [offset, Math.min(count, offset + chunk) - 1, templateId];
    const shift = [from, historyRetentionMs, count];
    await db.query(copies.messages, [...range, shredBefore, ...shift]);
    const inserted = await db.query(copies.events, [...range, ...shift]);
    events += inserted.rowCount ?? 0;
    console.log(`soak: seeded ${Math.min(count, offset + chunk)} of ${count} messages`);
  }
  const due = Date.now() - historyRetentionMs;
  await db.query(
    `DELETE FROM message_event WHERE message_id IN (SELECT id FROM outbox_message WHERE status IN ${FINAL} AND updated_at < $1)`,
    [due],
  );
  const deleted = await db.query(`DELETE FROM outbox_message WHERE status IN ${FINAL} AND updated_at < $1`, [
    due,
  ]);
  await db.query('VACUUM (ANALYZE) outbox_message, message_event');
  return { messages: count - (deleted.rowCount ?? 0), events, seconds: (performance.now() - started) / 1000 };
}

async function exactCounts(db: Client): Promise<Record<Table, number>> {
  const { rows } = await db.query(
    `SELECT (SELECT COUNT(*) FROM outbox_message)::int AS outbox_message,
            (SELECT COUNT(*) FROM message_event)::int AS message_event`,
  );
  return rows[0] as Record<Table, number>;
}

async function sampleWindow(
  db: Client,
  gateway: BenchProcess,
): Promise<Omit<SoakWindow, 'calls' | 'errors' | 'p50Ms' | 'p99Ms' | 'endsAtSecond' | 'warmUp'>> {
  const rssMiB = gateway.rssMiB();
  const loadAverage = Number(readLoadAverage().split(' ')[0]);
  const { rows } = await db.query(
    `SELECT relname, n_dead_tup::float8 AS dead, autovacuum_count::int AS autovacuums,
            pg_total_relation_size(relid)::float8 AS total, pg_relation_size(relid)::float8 AS heap,
            pg_indexes_size(relid)::float8 AS indexes
       FROM pg_stat_user_tables WHERE relname IN ('outbox_message', 'message_event')`,
  );
  // The partial due index holds exactly the messages not yet final.
  const counts = await db.query(
    `SELECT (SELECT COUNT(*) FROM outbox_message WHERE status IN ${ACTIVE})::int AS backlog,
            (SELECT COUNT(*) FROM outbox_message)::int AS outbox_message,
            (SELECT COUNT(*) FROM message_event)::int AS message_event`,
  );
  const counted = counts.rows[0] as Record<Table | 'backlog', number>;
  const tables = Object.fromEntries(
    (
      rows as {
        relname: Table;
        dead: number;
        autovacuums: number;
        total: number;
        heap: number;
        indexes: number;
      }[]
    ).map((row) => [
      row.relname,
      {
        liveRows: counted[row.relname],
        deadRows: row.dead,
        autovacuums: row.autovacuums,
        totalBytes: row.total,
        heapBytes: row.heap,
        indexBytes: row.indexes,
      },
    ]),
  ) as Record<Table, TableSample>;
  return { rssMiB, loadAverage, backlog: counted.backlog, tables };
}

function quantiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (quantile: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

function readLoadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
