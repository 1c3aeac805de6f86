// The benchmark harness: starts the gateway and its baselines on loopback, loads them one after
// the other with the same generator, and reports ratios measured in the same run.
//   node dist/bench/main.js [--smoke] [--seconds N] [--messages N] [--accept-only] [--smtp-only]
//                           [--soak SECONDS [--soak-rate N] [--soak-warm-up SECONDS] [--soak-db own|shared]
//                            [--soak-history SECONDS] [--soak-body SECONDS] [--soak-only]]
//                           [--scheduled N] [--scheduled-window SECONDS] [--scheduled-only] [--out FILE]
//                           [--history SIZE,SIZE... [--history-only]]
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import { Client } from 'pg';
import { createTransport } from 'nodemailer';
import type { GetSocketCallback } from 'nodemailer/lib/mailer';
import PgBoss from 'pg-boss';
import { Pool } from 'undici';
import { CpuMeter, CpuPerCall, describeCpu } from './cpu-meter';
import { aBenchMessage, BenchClient, encodeSendMailRequest } from './grpc-client';
import { grpcFrame, h2loadInstalled, h2loadOpenLoop } from './h2load';
import { drainOutbox } from './ideal-delivery-loop';
import { closedLoop, LoadResult, openLoop } from './load-generator';
import { StreamEventsResponse } from './proto';
import {
  BENCH_API_KEY,
  BenchProcess,
  freePort,
  peerScript,
  runGatewayCommand,
  startGateway,
} from './processes';
import { insertBatches } from './raw-batch-insert';
import { Row } from './report-row';
import { startOwnPostgres } from './own-postgres';
import { benchHistory } from './history';
import { soak, SoakWindow } from './soak';

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);
const smoke = args.includes('--smoke');
const soakSeconds = args.includes('--soak') ? Number(args[args.indexOf('--soak') + 1]) : 0;
/** `--soak N --soak-only`: just the retention soak. */
const soakOnly = args.includes('--soak-only');
/** The soak's server: `own` (default) starts one with autovacuum on; `shared` uses the bench's. */
const soakDatabase = args.includes('--soak-db') ? args[args.indexOf('--soak-db') + 1] : 'own';
/** `--accept-only`: accept and the event feed, without the delivery runs. */
const acceptOnly = args.includes('--accept-only');
/** `--scheduled-only`: just the scheduled-send lateness run. */
const scheduledOnly = args.includes('--scheduled-only');
/** `--history 1000000,5000000`: cost as the outbox grows to those sizes (minutes; never in --smoke). */
const historySizes =
  args.includes('--history') && !smoke ? args[args.indexOf('--history') + 1].split(',').map(Number) : [];
const historyOnly = args.includes('--history-only');
/** `--smtp-only`: just the SMTP delivery run. */
const smtpOnly = args.includes('--smtp-only');
const outFile = args.includes('--out')
  ? args[args.indexOf('--out') + 1]
  : join(__dirname, '..', '..', 'bench', 'results', 'latest.json');
const settings = smoke
  ? {
      durationMs: 1_000,
      acceptWarmUpMs: 200,
      concurrency: 8,
      deliveryMessages: 300,
      batchCalls: 4,
      streamLagMs: 500,
      scheduledMessages: 300,
      scheduledWindowMs: 3_000,
    }
  : {
      durationMs: option('--seconds') ? option('--seconds')! * 1000 : 10_000,
      // Load before each measured closed loop, gateway and peers alike: long enough for V8 to
      // optimize the hot path (CPU per call was still falling after half a second), so the ratios
      // compare steady states.
      acceptWarmUpMs: 3_000,
      concurrency: 32,
      deliveryMessages: option('--messages') ?? 20_000,
      batchCalls: 40,
      streamLagMs: 3_000,
      scheduledMessages: option('--scheduled') ?? 100_000,
      // 500 due per second: 120 s (833/s) is more than one gateway on a loaded 2-core machine delivers.
      scheduledWindowMs: (option('--scheduled-window') ?? 200) * 1000,
    };

const rows: Row[] = [];
let peakGatewayRssMiB = 0;
/** The closed-loop SendMail rate on PostgreSQL, when this run measured it: the soak takes half. */
let acceptPerSecond: number | undefined;
let soakWindows: SoakWindow[] = [];
/** What this run could not measure and why, printed under the table and kept in the JSON. */
const notes: string[] = [];
const loadAverageAtStart = readLoadAverage();

async function main(): Promise<void> {
  const server = await provideDatabaseServer();
  try {
    if (scheduledOnly) {
      await benchScheduledDelivery(server.url);
    } else if (smtpOnly) {
      await benchSmtpDelivery(server.url);
    } else if (!soakOnly && !historyOnly) {
      await benchAccept(server.url);
      if (!acceptOnly) {
        await benchDelivery(server.url);
        await benchSmtpDelivery(server.url);
        await benchScheduledDelivery(server.url);
      }
    }
    if (soakSeconds > 0) await runSoak(server.url, soakSeconds);
    if (historySizes.length > 0)
      rows.push(...(await benchHistory({ sizes: historySizes, acceptSeconds: 5 })));
    rows.push({ measure: 'gateway peak RSS', value: peakGatewayRssMiB, unit: 'MiB' });
  } finally {
    await server.stop();
  }
  report();
}

// ---- accept --------------------------------------------------------------------------------

async function benchAccept(serverUrl: string): Promise<void> {
  const load = { concurrency: settings.concurrency, durationMs: settings.durationMs };

  const bare = await loadPeer('bare grpc-js server, empty handler', 'bare-grpc-server', []);
  // The ceiling of a durable accept on this machine, with and without a key lookup per call.
  const ideal = await loadPeer(
    'ideal durable server (grpc-js, pg, group commit, one INSERT per group)',
    'ideal-durable-server',
    ['insert'],
    (await newPostgresDatabase(serverUrl)).DATABASE_URL,
  );
  await loadPeer(
    'ideal durable server + a key lookup per call (one SELECT by primary key)',
    'ideal-durable-server',
    ['lookup'],
    (await newPostgresDatabase(serverUrl)).DATABASE_URL,
  );
  const rawBatch = await benchRawBatchInsert(serverUrl, 500);

  for (const kind of ['postgres', 'sqlite'] as const) {
    const env = kind === 'postgres' ? await newPostgresDatabase(serverUrl) : await newSqliteDatabase();
    const databaseUrl = 'DATABASE_URL' in env ? env.DATABASE_URL : undefined;
    const port = await freePort();
    const replicaPort = await freePort();
    // On PostgreSQL a second replica of the same database, for the event stream; it starts beside
    // the first so its start-up overlaps, and stays idle (no stream, no delivery) until then.
    const [gateway, replica] = await Promise.all([
      startGateway({ ...env, GRPC_PORT: String(port), DELIVERY_ENABLED: 'false' }),
      kind === 'postgres'
        ? startGateway({ ...env, GRPC_PORT: String(replicaPort), DELIVERY_ENABLED: 'false' })
        : undefined,
    ]);
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);
    await closedLoop(() => client.sendMail(aBenchMessage()), {
      ...load,
      durationMs: settings.acceptWarmUpMs,
    });
    const meter = new CpuMeter(gateway.child.pid!, databaseUrl);
    const result = await closedLoop(() => client.sendMail(aBenchMessage()), load);
    const cpu = meter.perCall(result.requests);
    if (kind === 'postgres') acceptPerSecond = result.perSecond;
    const row = withCpu(rate(`SendMail, durable on ${kind}`, result, 'calls/s'), cpu);
    const versusBare = `${(result.perSecond / bare.perSecond).toFixed(2)}x bare grpc-js`;
    rows.push({
      ...row,
      detail: `${row.detail}; ${versusBare}`,
      // SQLite against the PostgreSQL ceiling: the only durable ideal this run measures.
      baseline: {
        name: kind === 'postgres' ? 'ideal durable' : 'ideal durable (on postgres)',
        value: ideal.perSecond,
      },
      target: kind === 'postgres' ? { kind: 'ratio-at-least', value: 0.7 } : undefined,
    });
    if (kind === 'postgres' && replica) {
      const halfRate = Math.max(1, Math.floor(result.perSecond / 2));
      const half = await openLoop(() => client.sendMail(aBenchMessage()), {
        ratePerSecond: halfRate,
        durationMs: settings.durationMs,
      });
      rows.push({
        measure: `SendMail p99 at half the maximum rate (${halfRate}/s, open loop)`,
        value: half.p99Ms,
        unit: 'ms',
        target: { kind: 'at-most', value: 10 },
        detail: `p50 ${half.p50Ms.toFixed(2)} ms, ${half.errors} errors; load from the harness's grpc-js client`,
      });
      await benchHalfRateFromH2load(serverUrl, { port, databaseUrl: databaseUrl! }, halfRate);
      const end = await benchFeedRead(`127.0.0.1:${port}`, kind, gateway, databaseUrl);
      await benchStreamLag(`127.0.0.1:${port}`, `127.0.0.1:${replicaPort}`, end, halfRate);
      peakGatewayRssMiB = Math.max(peakGatewayRssMiB, replica.peakRssMiB());
      await replica.stop();
      for (const size of [100, 500]) {
        const meter = new CpuMeter(gateway.child.pid!, databaseUrl);
        const started = performance.now();
        let messages = 0;
        await Promise.all(
          Array.from({ length: 2 }, async () => {
            for (let call = 0; call < settings.batchCalls / 2; call++) {
              const { results } = await client.sendMailBatch({
                items: Array.from({ length: size }, aBenchMessage),
              });
              messages += results.filter((result) => result.accepted).length;
            }
          }),
        );
        const perSecond = messages / ((performance.now() - started) / 1000);
        const cpu = meter.perCall(messages);
        rows.push({
          measure: `SendMailBatch of ${size}, durable on postgres`,
          value: perSecond,
          unit: 'messages/s',
          baseline: size === 500 ? { name: 'raw pg insert', value: rawBatch } : undefined,
          target: { kind: 'at-least', value: 20_000 },
          detail: describeCpu(cpu, 'message'),
          cpu,
        });
        if (size === 500) {
          rows.push({
            measure: 'SendMailBatch of 500 vs raw PostgreSQL batch insert of the same rows',
            value: perSecond / rawBatch,
            unit: 'x',
            target: { kind: 'at-least', value: 0.6 },
          });
        }
      }
    } else {
      await benchFeedRead(`127.0.0.1:${port}`, kind, gateway, databaseUrl);
    }
    client.close();
    peakGatewayRssMiB = Math.max(peakGatewayRssMiB, gateway.peakRssMiB());
    await gateway.stop();
  }
}

/**
 * A peer process loaded as the gateway is below (warm-up, then the closed loop), with its CPU and
 * PostgreSQL's per call; it is stopped after. It takes its port, then `databaseUrl` when it has
 * one, then `peerArgs`.
 */
async function loadPeer(
  measure: string,
  peer: string,
  peerArgs: string[],
  databaseUrl?: string,
): Promise<LoadResult> {
  const load = { concurrency: settings.concurrency, durationMs: settings.durationMs };
  const port = await freePort();
  const args = [String(port), ...(databaseUrl ? [databaseUrl] : []), ...peerArgs];
  const server = await BenchProcess.start(peerScript(peer), args, {}, 'listening');
  const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);
  try {
    await closedLoop(() => client.sendMail(aBenchMessage()), {
      ...load,
      durationMs: settings.acceptWarmUpMs,
    });
    const meter = new CpuMeter(server.child.pid!, databaseUrl);
    const result = await closedLoop(() => client.sendMail(aBenchMessage()), load);
    rows.push(withCpu(rate(measure, result, 'calls/s'), meter.perCall(result.requests)));
    return result;
  } finally {
    client.close();
    await server.stop();
  }
}

/** Messages a second the raw batch insert reaches, with as many inserters as the batch load's callers. */
async function benchRawBatchInsert(serverUrl: string, size: number): Promise<number> {
  const { DATABASE_URL } = await newPostgresDatabase(serverUrl);
  const { messages, seconds, cpu } = await insertBatches({
    databaseUrl: DATABASE_URL,
    size,
    parallel: 2,
    durationMs: settings.durationMs,
  });
  rows.push({
    measure: `raw PostgreSQL batch insert, ${size} messages + ${size} ACCEPTED events per statement, 2 inserters`,
    value: messages / seconds,
    unit: 'messages/s',
    detail: `${messages} messages in ${seconds.toFixed(1)} s; ${describeCpu(cpu, 'message', 'harness')}`,
    cpu,
  });
  return messages / seconds;
}

// ---- event feed ----------------------------------------------------------------------------

const FEED_PAGE = 1000;

/**
 * The same open loop from h2load, a client without garbage-collection pauses of its own, on the
 * gateway and then on the ideal durable server at the same rate: the latency's floor here. h2load
 * sends one prebuilt request again and again, so without an idempotency key (each call a new
 * message), and cannot see gRPC statuses: a call counts as failed unless its message was stored.
 */
async function benchHalfRateFromH2load(
  serverUrl: string,
  gateway: { port: number; databaseUrl: string },
  ratePerSecond: number,
): Promise<void> {
  if (!h2loadInstalled()) {
    notes.push(
      'h2load is not installed (Debian: nghttp2-client): SendMail latency at half rate comes from the grpc-js client alone',
    );
    return;
  }
  const load = await h2loadSendMail(gateway.port, gateway.databaseUrl, ratePerSecond);
  const idealDatabase = (await newPostgresDatabase(serverUrl)).DATABASE_URL;
  const idealPort = await freePort();
  const ideal = await BenchProcess.start(
    peerScript('ideal-durable-server'),
    [String(idealPort), idealDatabase, 'insert'],
    {},
    'listening',
  );
  let floor: Awaited<ReturnType<typeof h2loadSendMail>>;
  try {
    const client = new BenchClient(`127.0.0.1:${idealPort}`, BENCH_API_KEY);
    await closedLoop(() => client.sendMail(aBenchMessage()), {
      concurrency: settings.concurrency,
      durationMs: settings.acceptWarmUpMs,
    });
    client.close();
    floor = await h2loadSendMail(idealPort, idealDatabase, ratePerSecond);
  } finally {
    await ideal.stop();
  }
  const describe = (result: typeof load) =>
    `p50 ${result.p50Ms.toFixed(2)} ms, ${result.perSecond.toFixed(0)} calls/s sent over ${result.connections} ` +
    `connections, ${result.errors} errors (not HTTP 200, or not stored)`;
  rows.push({
    measure: `SendMail p99 on the ideal durable server, same rate (${ratePerSecond}/s, open loop from h2load)`,
    value: floor.p99Ms,
    unit: 'ms',
    detail: describe(floor),
  });
  rows.push({
    measure: `SendMail p99 at half the maximum rate (${ratePerSecond}/s, open loop from h2load)`,
    value: load.p99Ms,
    unit: 'ms',
    target: { kind: 'at-most', value: 10 },
    detail: `${describe(load)}; ${(load.p99Ms / floor.p99Ms).toFixed(2)}x the ideal durable server's p99`,
  });
}

/** h2load's open loop of SendMail on one server, its errors counted from what that server stored. */
async function h2loadSendMail(port: number, databaseUrl: string, ratePerSecond: number) {
  const { mail } = aBenchMessage();
  const before = await countMessages(databaseUrl);
  const load = await h2loadOpenLoop({
    url: `http://127.0.0.1:${port}/mailgateway.v1.MailGateway/SendMail`,
    headers: { 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${BENCH_API_KEY}` },
    body: grpcFrame(encodeSendMailRequest({ mail })),
    ratePerSecond,
    durationMs: settings.durationMs,
  });
  const notStored = load.requests - ((await countMessages(databaseUrl)) - before);
  return { ...load, errors: load.errors + notStored };
}

async function countMessages(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: result } = await client.query('SELECT COUNT(*)::int AS n FROM outbox_message');
    return result[0].n;
  } finally {
    await client.end();
  }
}

/**
 * One reader pages the whole feed from its start, as the accept runs left it. Returns the cursor
 * it ended on: the feed's end, from where the streams below start.
 */
async function benchFeedRead(
  address: string,
  kind: string,
  gateway: BenchProcess,
  databaseUrl: string | undefined,
): Promise<string> {
  const reader = new BenchClient(address, BENCH_API_KEY, 1);
  const meter = new CpuMeter(gateway.child.pid!, databaseUrl);
  let cursor = '';
  let events = 0;
  let pages = 0;
  const started = performance.now();
  for (;;) {
    const page = await reader.listEvents({ cursor, pageSize: FEED_PAGE });
    pages++;
    events += page.events.length;
    cursor = page.nextCursor;
    if (page.events.length < FEED_PAGE) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.perCall(events);
  reader.close();
  rows.push({
    measure: `ListEvents read rate (page_size ${FEED_PAGE}), unread feed on ${kind}`,
    value: events / seconds,
    unit: 'events/s',
    detail: `${events} events in ${pages} pages, ${seconds.toFixed(2)} s; ${describeCpu(cpu, 'event')}`,
    cpu,
  });
  return cursor;
}

/**
 * Streams opened from the feed's end on the accepting process and on a second replica of the same
 * database, while SendMail runs at a steady open-loop rate: for each message, the time from its
 * OK (its commit came before) to its ACCEPTED event on each stream. The OK comes after the commit
 * and may itself be late, so this is a lower bound of commit-to-client; the detail gives the upper
 * bound, from the event's recorded_at (written before the commit, same machine's clock).
 */
async function benchStreamLag(
  address: string,
  replicaAddress: string,
  cursor: string,
  ratePerSecond: number,
): Promise<void> {
  const sender = new BenchClient(address, BENCH_API_KEY);
  const watches = [
    { name: 'same process', client: new BenchClient(address, BENCH_API_KEY, 1) },
    { name: 'second replica', client: new BenchClient(replicaAddress, BENCH_API_KEY, 1) },
  ].map(({ name, client }) => ({ name, client, feed: new FeedWatch(client, cursor) }));
  try {
    // Both streams are live once a first message reached them.
    const probe = await sender.sendMail(aBenchMessage());
    await Promise.all(watches.map(({ feed }) => feed.waitFor([probe.messageId], 10_000)));

    const okAt = new Map<string, number>();
    const load = await openLoop(
      () =>
        sender.sendMail(aBenchMessage()).then((response) => {
          okAt.set(response.messageId, performance.now());
        }),
      { ratePerSecond, durationMs: settings.streamLagMs },
    );
    await Promise.all(watches.map(({ feed }) => feed.waitFor([...okAt.keys()], 10_000)));
    for (const { name, feed } of watches) {
      const fromOk = quantiles([...okAt].map(([id, ok]) => feed.arrivals.get(id)!.at - ok));
      const fromRecorded = quantiles([...okAt.keys()].map((id) => feed.arrivals.get(id)!.sinceRecordedMs));
      const early = [...okAt].filter(([id, ok]) => feed.arrivals.get(id)!.at < ok).length;
      const detail =
        `${okAt.size} messages at ${ratePerSecond}/s (SendMail p99 ${load.p99Ms.toFixed(1)} ms, ${load.errors} errors), ` +
        `${early} arrived before their OK; from recorded_at: p50 ${fromRecorded.p50.toFixed(1)} ms, p99 ${fromRecorded.p99.toFixed(1)} ms`;
      for (const label of ['p50', 'p99'] as const) {
        rows.push({
          measure: `StreamEvents lag ${label}, SendMail OK to ACCEPTED event, stream on the ${name} (postgres)`,
          value: fromOk[label],
          unit: 'ms',
          detail,
        });
      }
    }
  } finally {
    for (const { feed, client } of watches) {
      feed.close();
      client.close();
    }
    sender.close();
  }
}

function quantiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (quantile: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Follows a StreamEvents stream and notes when each message's ACCEPTED event arrived. */
class FeedWatch {
  /** By message id: when its event arrived (performance.now()), and how long after its recorded_at. */
  readonly arrivals = new Map<string, { at: number; sinceRecordedMs: number }>();
  private failure: Error | undefined;
  private readonly stream: ReturnType<BenchClient['streamEvents']>;

  constructor(client: BenchClient, cursor: string) {
    this.stream = client.streamEvents({ cursor });
    this.stream.on('data', (item: StreamEventsResponse) => {
      if (item.item !== 'event' || item.event?.type !== 'MESSAGE_EVENT_TYPE_ACCEPTED') return;
      const { messageId, recordedAt } = item.event;
      if (this.arrivals.has(messageId)) return;
      const at = performance.now();
      const recordedMs = recordedAt.seconds * 1000 + recordedAt.nanos / 1e6;
      this.arrivals.set(messageId, { at, sinceRecordedMs: performance.timeOrigin + at - recordedMs });
    });
    this.stream.on('error', (error: Error & { code?: number }) => {
      if (error.code !== status.CANCELLED) this.failure = error;
    });
  }

  /** Resolves once every one of the messages arrived; rejects when the stream failed or time ran out. */
  async waitFor(messageIds: string[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const missing = messageIds.filter((id) => !this.arrivals.has(id)).length;
      if (missing === 0) return;
      if (performance.now() > deadline) {
        throw new Error(`StreamEvents: ${missing} of ${messageIds.length} ACCEPTED events never arrived`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(): void {
    this.stream.cancel();
  }
}

// ---- delivery ------------------------------------------------------------------------------

const CONNECTIONS = 10;
/** Rows per claim statement of the ideal delivery loop: a few hundred. */
const IDEAL_CLAIM_SIZE = 300;

async function benchDelivery(serverUrl: string): Promise<void> {
  const count = settings.deliveryMessages;
  const upstreamPort = await freePort();
  const upstream = await BenchProcess.start(
    peerScript('plain-upstream'),
    [String(upstreamPort)],
    {},
    'listening',
  );
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}/send`;
  const body = JSON.stringify({
    messageId: '00000000-0000-4000-8000-000000000000',
    attempt: 1,
    mail: aBenchMessage().mail,
  });
  try {
    // Baseline: the same posts straight through a bare undici pool with the same connection cap.
    const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: CONNECTIONS, pipelining: 1 });
    const post = async () => {
      const response = await pool.request({
        method: 'POST',
        path: '/send',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'bench' },
        body,
      });
      await response.body.text();
    };
    const bareMeter = new CpuMeter(process.pid);
    const bareSeconds = await timed(() => inParallel(count, CONNECTIONS, post));
    const bareRate = count / bareSeconds;
    const bareCpu = bareMeter.perCall(count);
    rows.push({
      measure: `bare undici pool, ${CONNECTIONS} connections`,
      value: bareRate,
      unit: 'posts/s',
      detail: describeCpu(bareCpu, 'post', 'harness'),
      cpu: bareCpu,
    });

    // Ceiling: the same full outbox drained by plain pg + undici, outcomes recorded in groups.
    const idealEnv = await newPostgresDatabase(serverUrl);
    await fillOutbox(idealEnv, count);
    const idealStarted = performance.now();
    const { delivered: idealDelivered, cpu: idealCpu } = await drainOutbox({
      databaseUrl: idealEnv.DATABASE_URL,
      upstream: `http://127.0.0.1:${upstreamPort}`,
      mail: aBenchMessage().mail,
      connections: CONNECTIONS,
      inFlight: CONNECTIONS * 3,
      claimSize: IDEAL_CLAIM_SIZE,
    });
    const idealRate = idealDelivered / ((performance.now() - idealStarted) / 1000);
    if (idealDelivered !== count)
      throw new Error(`ideal delivery loop delivered ${idealDelivered} of ${count}`);
    rows.push({
      measure: `ideal delivery loop (pg + undici: claim ${IDEAL_CLAIM_SIZE} per statement, ${CONNECTIONS * 3} in flight, outcomes grouped)`,
      value: idealRate,
      unit: 'messages/s',
      detail: `${count} messages; ${describeCpu(idealCpu, 'message', 'harness')}`,
      cpu: idealCpu,
    });

    const env = await newPostgresDatabase(serverUrl);
    await fillOutbox(env, count);
    const startedAt = performance.now();
    const gateway = await startGateway({
      ...env,
      GRPC_PORT: String(await freePort()),
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: upstreamUrl,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_MAX_CONNECTIONS: String(CONNECTIONS),
      DELIVERY_CONCURRENCY: String(CONNECTIONS * 3),
      DELIVERY_POLL_INTERVAL_MS: '10',
    });
    const meter = new CpuMeter(gateway.child.pid!, env.DATABASE_URL);
    const { drainSeconds } = await waitForDelivered(env.DATABASE_URL, count);
    const withStartUp = count / ((performance.now() - startedAt) / 1000);
    const gatewayRate = count / drainSeconds;
    const cpu = meter.perCall(count);
    peakGatewayRssMiB = Math.max(peakGatewayRssMiB, gateway.peakRssMiB());
    await gateway.stop();
    rows.push({
      measure: 'delivery from a full outbox (postgres) to the same upstream',
      value: gatewayRate,
      unit: 'messages/s',
      baseline: { name: 'ideal delivery loop', value: idealRate },
      target: { kind: 'ratio-at-least', value: 0.7 },
      detail:
        `${count} messages, from the first attempt to the last delivery (${withStartUp.toFixed(0)}/s with the ` +
        `gateway's start-up); ${(gatewayRate / bareRate).toFixed(2)}x bare undici; CPU from its readiness on: ` +
        describeCpu(cpu, 'message'),
      cpu,
    });

    // Peer: pg-boss on the same PostgreSQL, enqueueing and working the same HTTP post.
    const bossUrl = (await newPostgresDatabase(serverUrl)).DATABASE_URL;
    const boss = new PgBoss({ connectionString: bossUrl, max: CONNECTIONS });
    boss.on('error', () => undefined);
    await boss.start();
    await boss.createQueue('deliver');
    const enqueueSeconds = await timed(async () => {
      for (let offset = 0; offset < count; offset += 500) {
        const size = Math.min(500, count - offset);
        await boss.insert(Array.from({ length: size }, () => ({ name: 'deliver', data: { body } })));
      }
    });
    let done = 0;
    const bossMeter = new CpuMeter(process.pid, bossUrl);
    const workSeconds = await timed(async () => {
      const finished = new Promise<void>((resolve) => {
        const handler = async (jobs: PgBoss.Job[]) => {
          await Promise.all(jobs.map(() => post()));
          done += jobs.length;
          if (done >= count) resolve();
        };
        for (let worker = 0; worker < 4; worker++) {
          void boss.work('deliver', { batchSize: 50, pollingIntervalSeconds: 0.5 }, handler);
        }
      });
      await finished;
    });
    const bossCpu = bossMeter.perCall(count);
    await boss.stop({ graceful: false, wait: false });
    await pool.close();
    const bossRate = count / workSeconds;
    rows.push({
      measure: 'pg-boss 10 enqueue (insert, 500 per call)',
      value: count / enqueueSeconds,
      unit: 'jobs/s',
    });
    rows.push({
      measure: 'pg-boss 10 working the same HTTP post (4 workers x 50)',
      value: bossRate,
      unit: 'jobs/s',
      detail: describeCpu(bossCpu, 'job', 'harness (pg-boss and its posts)'),
      cpu: bossCpu,
    });
    rows.push({
      measure: 'gateway delivery vs pg-boss',
      value: gatewayRate / bossRate,
      unit: 'x',
      target: { kind: 'at-least', value: 2 },
    });
  } finally {
    await upstream.stop();
  }
}

interface RelayCounts {
  readonly received: number;
  readonly connections: number;
  readonly maxOpen: number;
}

/** What the SMTP relay peer received so far, asked over IPC. */
function relayCounts(relay: BenchProcess): Promise<RelayCounts> {
  return new Promise((resolve) => {
    relay.child.once('message', (counts) => resolve(counts as RelayCounts));
    relay.child.send({});
  });
}

/**
 * The same full outbox drained by the `smtp` driver into a local SMTP relay, beside a bare
 * nodemailer pool with the same connection cap sending messages of the same size to it. The relay
 * counts the connections each opened. Plaintext on both sides (SMTP_REQUIRE_TLS=false, the relay
 * offers no STARTTLS): the SMTP exchange and the pooling are measured, not TLS.
 */
async function benchSmtpDelivery(serverUrl: string): Promise<void> {
  const count = settings.deliveryMessages;
  const relayPort = await freePort();
  const relay = await BenchProcess.start(peerScript('smtp-relay'), [String(relayPort)], {}, 'listening');
  try {
    const options = {
      pool: true as const,
      maxConnections: CONNECTIONS,
      maxMessages: 100,
      host: '127.0.0.1',
      port: relayPort,
      secure: false,
      ignoreTLS: true,
      // Sockets without Nagle's algorithm, as the gateway's driver opens them: otherwise each
      // message waits on the relay's delayed ACKs and the baseline measures those instead.
      getSocket: (_options: unknown, callback: GetSocketCallback) => {
        const socket = connect({ host: '127.0.0.1', port: relayPort, noDelay: true });
        socket.once('connect', () => callback(null, { connection: socket }));
        socket.once('error', (error) => callback(error));
      },
    };
    const transport = createTransport(options);
    const send = async () => {
      const { mail } = aBenchMessage() as {
        mail: { to: { address: string }[]; subject: string; textBody: string };
      };
      await transport.sendMail({
        from: 'Billing <billing@example.com>',
        to: mail.to[0].address,
        subject: mail.subject,
        text: mail.textBody,
      });
    };
    const bareMeter = new CpuMeter(process.pid);
    const bareSeconds = await timed(() => inParallel(count, CONNECTIONS * 3, send));
    const bareCpu = bareMeter.perCall(count);
    transport.close();
    const bareRate = count / bareSeconds;
    const afterBare = await relayCounts(relay);
    rows.push({
      measure: `bare nodemailer SMTP pool, ${CONNECTIONS} connections`,
      value: bareRate,
      unit: 'messages/s',
      detail:
        `${afterBare.received} messages over ${afterBare.connections} connections, at most ${afterBare.maxOpen} open at once; ` +
        describeCpu(bareCpu, 'message', 'harness'),
      cpu: bareCpu,
    });

    const env = await newPostgresDatabase(serverUrl);
    await fillOutbox(env, count);
    const startedAt = performance.now();
    const gateway = await startGateway({
      ...env,
      GRPC_PORT: String(await freePort()),
      MAIL_DRIVER: 'smtp',
      SMTP_URL: `smtp://127.0.0.1:${relayPort}`,
      SMTP_REQUIRE_TLS: 'false',
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_MAX_CONNECTIONS: String(CONNECTIONS),
      DELIVERY_CONCURRENCY: String(CONNECTIONS * 3),
      DELIVERY_POLL_INTERVAL_MS: '10',
    });
    const meter = new CpuMeter(gateway.child.pid!, env.DATABASE_URL);
    const { drainSeconds } = await waitForDelivered(env.DATABASE_URL, count);
    const withStartUp = count / ((performance.now() - startedAt) / 1000);
    const gatewayRate = count / drainSeconds;
    const gatewayCpuMs = (gateway.cpuSeconds() * 1000) / count;
    const cpu = meter.perCall(count);
    peakGatewayRssMiB = Math.max(peakGatewayRssMiB, gateway.peakRssMiB());
    await gateway.stop();
    const after = await relayCounts(relay);
    rows.push({
      measure: 'SMTP delivery from a full outbox (postgres) to the same relay',
      value: gatewayRate,
      unit: 'messages/s',
      baseline: { name: 'bare nodemailer', value: bareRate },
      detail:
        `${count} messages, from the first attempt to the last delivery (${withStartUp.toFixed(0)}/s with the ` +
        `gateway's start-up); the relay took ${after.received - afterBare.received} ` +
        `over ${after.connections - afterBare.connections} connections, at most ${after.maxOpen} open at once; ` +
        `gateway CPU ${gatewayCpuMs.toFixed(2)} ms per message, start-up included; ` +
        `from its readiness on: ${describeCpu(cpu, 'message')}`,
      cpu,
    });
  } finally {
    await relay.stop();
  }
}

/**
 * Scheduled send at volume: messages sent ahead through SendMailBatch (500 a call) with send_at
 * spread evenly over a window that opens once they are all accepted, to a gateway that delivers
 * to the same upstream as above. Lateness is how long after its send_at each message's first
 * attempt started, both read from the database (the claim stamps attempt_started with the time it
 * compared send_at against), so it measures the claim loop, not the harness.
 */
async function benchScheduledDelivery(serverUrl: string): Promise<void> {
  const count = settings.scheduledMessages;
  const windowMs = settings.scheduledWindowMs;
  const upstreamPort = await freePort();
  const upstream = await BenchProcess.start(
    peerScript('plain-upstream'),
    [String(upstreamPort)],
    {},
    'listening',
  );
  try {
    const env = await newPostgresDatabase(serverUrl);
    const port = await freePort();
    const gateway = await startGateway({
      ...env,
      GRPC_PORT: String(port),
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: `http://127.0.0.1:${upstreamPort}/send`,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_MAX_CONNECTIONS: String(CONNECTIONS),
      DELIVERY_CONCURRENCY: String(CONNECTIONS * 3),
      DELIVERY_POLL_INTERVAL_MS: '10',
    });
    const loadBefore = readLoadAverage();
    // The window opens after the accepts are done (counting on 1,500 messages/s, a loaded machine's
    // rate): a message accepted after its own send_at would count its accept time as lateness.
    const windowStart = Date.now() + Math.ceil(count / 1_500) * 1000 + 5_000;
    const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);
    const acceptStarted = performance.now();
    for (let offset = 0; offset < count; offset += 500) {
      const items = Array.from({ length: Math.min(500, count - offset) }, (_, index) => {
        const sendAt = windowStart + Math.floor(((offset + index) * windowMs) / count);
        return {
          ...aBenchMessage(),
          sendAt: { seconds: Math.floor(sendAt / 1000), nanos: (sendAt % 1000) * 1_000_000 },
        };
      });
      const { results } = await client.sendMailBatch({ items });
      const refused = results.find((result) => !result.accepted);
      if (refused) throw new Error(`scheduled SendMailBatch refused an item: ${JSON.stringify(refused)}`);
    }
    const acceptSeconds = (performance.now() - acceptStarted) / 1000;
    client.close();
    // Every message has its attempt by the window's end if delivery keeps up; the rest is grace.
    const deadline = windowStart + windowMs + Math.max(30_000, windowMs);
    const delivered = await waitForDeliveredUntil(env.DATABASE_URL, count, deadline);
    const loadAfter = readLoadAverage();
    peakGatewayRssMiB = Math.max(peakGatewayRssMiB, gateway.peakRssMiB());
    await gateway.stop();
    const lateness = await readLateness(env.DATABASE_URL);
    const rateDue = count / (windowMs / 1000);
    const detail =
      `${count} messages due over ${windowMs / 1000} s (${rateDue.toFixed(0)}/s), first attempts of ${lateness.attempts}, ` +
      `${lateness.acceptedLate} accepted after their send_at; accepts took ${acceptSeconds.toFixed(1)} s; ` +
      `max ${lateness.maxMs} ms, ${lateness.early} started before their send_at; load average ${loadBefore} before, ${loadAfter} after`;
    rows.push({
      measure: 'scheduled send lateness p50, send_at to attempt start (postgres)',
      value: lateness.p50Ms,
      unit: 'ms',
      detail,
    });
    rows.push({
      measure: 'scheduled send lateness p99, send_at to attempt start (postgres)',
      value: lateness.p99Ms,
      unit: 'ms',
      detail,
    });
    rows.push({
      measure: 'scheduled send delivered',
      value: delivered,
      unit: 'messages',
      detail: `of ${count}, by ${((deadline - windowStart - windowMs) / 1000).toFixed(0)} s after the window closed`,
    });
  } finally {
    await upstream.stop();
  }
}

/** Lateness of each message's first attempt (milliseconds after its send_at), from the outbox. */
async function readLateness(url: string): Promise<{
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  attempts: number;
  acceptedLate: number;
  early: number;
}> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: result } = await client.query(
      `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY late)::float8 AS p50,
              percentile_disc(0.99) WITHIN GROUP (ORDER BY late)::float8 AS p99,
              MAX(late)::float8 AS max, COUNT(*)::int AS attempts,
              COUNT(*) FILTER (WHERE accepted_at > send_at)::int AS accepted_late,
              COUNT(*) FILTER (WHERE late < 0)::int AS early
         FROM (SELECT event.occurred_at - message.send_at AS late, message.accepted_at, message.send_at
                 FROM outbox_message message
                 JOIN message_event event ON event.message_id = message.id
                  AND event.type = 'attempt_started' AND event.attempt = 1
                WHERE message.send_at IS NOT NULL) first_attempts`,
    );
    const [row] = result;
    return {
      p50Ms: row.p50 ?? 0,
      p99Ms: row.p99 ?? 0,
      maxMs: row.max ?? 0,
      attempts: row.attempts,
      acceptedLate: row.accepted_late,
      early: row.early,
    };
  } finally {
    await client.end();
  }
}

/** Waits until `count` messages are delivered or the deadline (epoch ms) passed; returns how many are. */
async function waitForDeliveredUntil(url: string, count: number, deadline: number): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (;;) {
      const { rows: result } = await client.query(
        "SELECT COUNT(*)::int AS n FROM outbox_message WHERE status = 'delivered'",
      );
      if (result[0].n >= count || Date.now() > deadline) return result[0].n;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await client.end();
  }
}

function readLoadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

async function fillOutbox(env: Record<string, string>, count: number): Promise<void> {
  const port = await freePort();
  const gateway = await startGateway({ ...env, GRPC_PORT: String(port), DELIVERY_ENABLED: 'false' });
  const client = new BenchClient(`127.0.0.1:${port}`, BENCH_API_KEY);
  for (let offset = 0; offset < count; offset += 500) {
    await client.sendMailBatch({
      items: Array.from({ length: Math.min(500, count - offset) }, aBenchMessage),
    });
  }
  client.close();
  await gateway.stop();
}

/**
 * Waits until `count` messages are delivered; answers how long it took from the first attempt's
 * start to the last delivery, by the events' own times, so the gateway's start-up is left out and
 * how often this polls does not matter.
 */
async function waitForDelivered(url: string, count: number): Promise<{ drainSeconds: number }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (;;) {
      const { rows: result } = await client.query(
        "SELECT COUNT(*)::int AS n FROM outbox_message WHERE status = 'delivered'",
      );
      if (result[0].n >= count) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const { rows: span } = await client.query<{ first: string; last: string }>(
      `SELECT (SELECT min(occurred_at) FROM message_event WHERE type = 'attempt_started') AS first,
              (SELECT max(occurred_at) FROM message_event WHERE type = 'delivered') AS last`,
    );
    return { drainSeconds: (Number(span[0].last) - Number(span[0].first)) / 1000 };
  } finally {
    await client.end();
  }
}

// ---- soak ----------------------------------------------------------------------------------

async function runSoak(benchServerUrl: string, seconds: number): Promise<void> {
  const given = option('--soak-rate');
  const ratePerSecond = given ?? (acceptPerSecond ? Math.max(1, Math.floor(acceptPerSecond / 2)) : 250);
  const rateSource = given
    ? '--soak-rate'
    : acceptPerSecond
      ? `half the closed-loop maximum of this run, ${acceptPerSecond.toFixed(0)} calls/s`
      : 'the default: accept was not measured in this run';
  if (soakDatabase !== 'own' && soakDatabase !== 'shared') {
    throw new Error(`--soak-db: ${soakDatabase} is neither own nor shared`);
  }
  const own = soakDatabase === 'own' ? await startOwnPostgres() : undefined;
  try {
    const result = await soak({
      serverUrl: own?.url ?? benchServerUrl,
      serverName: own
        ? 'a PostgreSQL of its own (initdb defaults)'
        : process.env.DATABASE_URL
          ? 'the shared PostgreSQL of DATABASE_URL'
          : "the bench's embedded PostgreSQL",
      seconds,
      warmUpSeconds: option('--soak-warm-up') ?? 30,
      ratePerSecond,
      rateSource,
      // The shortest history retention the gateway takes: the seed is one hour's worth.
      historyRetentionMs: (option('--soak-history') ?? 3600) * 1000,
      bodyRetentionMs: (option('--soak-body') ?? 600) * 1000,
    });
    rows.push(...result.rows);
    soakWindows = result.windows;
    peakGatewayRssMiB = Math.max(peakGatewayRssMiB, result.peakRssMiB);
  } finally {
    await own?.stop();
  }
}

// ---- databases -----------------------------------------------------------------------------

async function provideDatabaseServer(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  // The same helper the test suites use; ESM, so loaded by path at run time.
  const helper = join(__dirname, '..', '..', 'scripts', 'embedded-postgres.mjs');
  const { startEmbeddedPostgres } = (await import(helper)) as {
    startEmbeddedPostgres(prefix: string): Promise<{ url: string; stop(): Promise<void> }>;
  };
  return startEmbeddedPostgres('mailgateway-bench-pg-');
}

async function newPostgresDatabase(
  serverUrl: string,
): Promise<{ DATABASE_URL: string; CONTENT_KEYS: string }> {
  const name = `mailgateway_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  // PostgreSQL needs a content key ring; a bench database lives for one run.
  const env = { DATABASE_URL: url.toString(), CONTENT_KEYS: `bench-1:${randomBytes(32).toString('base64')}` };
  await runGatewayCommand('migrate', env);
  return env;
}

async function newSqliteDatabase(): Promise<{ SQLITE_PATH: string }> {
  return { SQLITE_PATH: join(await mkdtemp(join(tmpdir(), 'mailgateway-bench-sqlite-')), 'outbox.sqlite') };
}

// ---- helpers -------------------------------------------------------------------------------

function rate(measure: string, result: LoadResult, unit: string): Row {
  return {
    measure,
    value: result.perSecond,
    unit,
    detail: `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ''}`,
  };
}

function withCpu(row: Row, cpu: CpuPerCall): Row {
  return { ...row, detail: `${row.detail ? `${row.detail}; ` : ''}${describeCpu(cpu)}`, cpu };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function inParallel(count: number, parallelism: number, work: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallelism }, async () => {
      while (next++ < count) await work();
    }),
  );
}

function verdict(row: Row): string {
  if (!row.target) return '';
  const measured = row.target.kind === 'ratio-at-least' ? row.value / row.baseline!.value : row.value;
  const met = row.target.kind === 'at-most' ? measured <= row.target.value : measured >= row.target.value;
  const goal = {
    'ratio-at-least': `>= ${row.target.value}x`,
    'at-least': `>= ${row.target.value}`,
    'at-most': `<= ${row.target.value}`,
  }[row.target.kind];
  return `${met ? 'met' : 'MISSED'} (${goal})`;
}

function report(): void {
  const table = rows.map((row) => ({
    measure: row.measure,
    value: `${row.value.toFixed(row.value < 100 ? 2 : 0)} ${row.unit}`,
    ratio: row.baseline ? `${(row.value / row.baseline.value).toFixed(2)}x ${row.baseline.name}` : '',
    target: verdict(row),
    detail: row.detail ?? '',
  }));
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  const loadAverage = { start: loadAverageAtStart, end: readLoadAverage() };
  console.log(
    `\nmailgateway benchmark${smoke ? ' (smoke run: figures mean nothing)' : ''} — ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; ` +
      `load average ${loadAverage.start} at start, ${loadAverage.end} at end`,
  );
  console.table(table);
  for (const note of notes) console.log(`not measured: ${note}`);
  if (soakWindows.length > 0) {
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log('soak, per 10-second window (sizes in MiB: total = heap + indexes + TOAST):');
    console.table(
      soakWindows.map((window) => ({
        s: window.endsAtSecond,
        'warm-up': window.warmUp ? 'yes' : '',
        calls: window.calls,
        errors: window.errors,
        'p50 ms': window.p50Ms.toFixed(1),
        'p99 ms': window.p99Ms.toFixed(1),
        'RSS MiB': window.rssMiB.toFixed(0),
        backlog: window.backlog,
        'msg rows': window.tables.outbox_message.liveRows,
        'msg dead': window.tables.outbox_message.deadRows,
        'msg total': mib(window.tables.outbox_message.totalBytes),
        'msg heap': mib(window.tables.outbox_message.heapBytes),
        'msg idx': mib(window.tables.outbox_message.indexBytes),
        'evt rows': window.tables.message_event.liveRows,
        'evt dead': window.tables.message_event.deadRows,
        'evt total': mib(window.tables.message_event.totalBytes),
        'evt heap': mib(window.tables.message_event.heapBytes),
        'evt idx': mib(window.tables.message_event.indexBytes),
        autovac: `${window.tables.outbox_message.autovacuums}/${window.tables.message_event.autovacuums}`,
        load: window.loadAverage,
      })),
    );
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      { at: new Date().toISOString(), smoke, settings, machine, loadAverage, rows, notes, soakWindows },
      null,
      2,
    ),
  );
  console.log(`written to ${outFile}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
