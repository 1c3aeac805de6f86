import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import { advisedRetryDelayMs } from '@mailgateway/client';
import {
  aSendMailRequest,
  checkHealth,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  TableWriteLock,
  TestDatabase,
  waitFor,
  testContentSealer,
} from '@mailgateway/testing';
import { singleAttemptClient } from '../support/single-attempt-client';
import { RELIABILITY_FULL, sized } from './reliability-scale';

/** The smallest OUTBOX_MAX_QUEUED_MESSAGES allowed. */
const QUEUE_LIMIT = 500;
/** A fifth of the queue: five waiting batches fill it exactly, so a single call is refused too. */
const BATCH = 100;
/** Refused batches to collect while the writer is held, then single calls sent into the full queue. */
const REFUSED_BATCHES = sized(3, 10);
const REFUSED_SINGLES = sized(5, 20);
/** Gives up on the gateway ever refusing after this many batches (20 times its queue limit). */
const MAX_BATCHES = (20 * QUEUE_LIMIT) / BATCH;
/** Generous: a bound that catches unbounded growth, not a measurement. */
const MAX_RSS_MIB = 1_024;
const ALLOWED_CODES = ['OK', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE'];

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

/** How one call ended, and whether the outbox's writer was still held when it did. */
interface SentCall {
  readonly keys: readonly string[];
  readonly kind: 'batch' | 'single';
  /** Resolves once the call has an answer (never rejects). */
  readonly done: Promise<void>;
  settled: boolean;
  code?: string;
  details?: string;
  /** What the client library reads from the answer (RetryInfo, else retry-after). */
  advisedMs?: number;
  /** The raw `retry-after` trailer, in seconds. */
  retryAfter?: string;
  answeredWhileHeld?: boolean;
}

// Scenario 7: more load than the outbox can commit. The short and the full form hold the outbox's
// writer (a table lock) so that commits cannot finish and the queue must fill up; the full form
// also offers three times the sustainable rate for a minute and prints what it measured.
describe('Reliability: overload', () => {
  let database: TestDatabase;
  let gateway: GatewayProcess | undefined;
  let scratch: string;

  beforeEach(async () => {
    database = await provisionTestDatabase('postgres');
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-overload-'));
  });

  afterEach(async () => {
    await gateway?.crash();
    gateway = undefined;
    await database?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  /** The gateway with the smallest queue and the rate limits out of the way: capacity is the subject. */
  const startGateway = async () => {
    const port = await freePort();
    const upstreamLog = join(scratch, 'upstream.jsonl');
    // Quiet: a line per call would fill this process's memory with the child's output.
    const child = GatewayProcess.spawn({
      ...database.env,
      GRPC_PORT: String(port),
      SANDBOX_OUTPUT_PATH: upstreamLog,
      LOG_LEVEL: 'warn',
      OUTBOX_MAX_QUEUED_MESSAGES: String(QUEUE_LIMIT),
      RATE_LIMIT_SOURCE_MESSAGES: '100000000',
      RATE_LIMIT_GLOBAL_MESSAGES: '1000000000',
    });
    gateway = child;
    await waitFor('the gateway to serve', () =>
      checkHealth(`127.0.0.1:${port}`).then(
        (health) => (health === 'SERVING' ? true : undefined),
        () => undefined,
      ),
    );
    return { child, port, upstreamLog };
  };

  /** Every row of the outbox: message id, idempotency key and subject. */
  const storedMessages = async () => {
    const dataSource = await openTestDataSource(database.env);
    try {
      const rows: {
        id: string;
        idempotency_key: string | null;
        payload: string;
        content_key_id: string | null;
        wrapped_data_key: string | null;
      }[] = await dataSource.query(
        'SELECT id, idempotency_key, payload, content_key_id, wrapped_data_key FROM outbox_message',
      );
      const sealer = testContentSealer();
      return rows.map((row) => ({
        id: row.id,
        idempotencyKey: row.idempotency_key,
        subject: String(
          (
            JSON.parse(
              sealer.open(row.id, {
                payload: row.payload,
                contentKeyId: row.content_key_id,
                wrappedDataKey: row.wrapped_data_key,
              }),
            ) as { subject?: unknown }
          ).subject,
        ),
      }));
    } finally {
      await dataSource.destroy();
    }
  };

  it(
    'refuses at once with RESOURCE_EXHAUSTED and a retry delay when commits cannot finish, stores nothing of a refused call, loses nothing',
    async () => {
      const { child, port } = await startGateway();
      // Long enough that no call ends on its deadline while the writer is held: jest's timeout is
      // the only time limit.
      const client = singleAttemptClient(`127.0.0.1:${port}`, { deadlineMs: 300_000 });
      const ledger = new OutcomeLedger();
      const calls: SentCall[] = [];
      let held = false;
      let sequence = 0;
      const send = (kind: SentCall['kind']): SentCall => {
        const keys = Array.from({ length: kind === 'batch' ? BATCH : 1 }, () => `overload-${sequence++}`);
        const answer =
          kind === 'batch'
            ? client.sendMailBatch({ items: keys.map((key) => aSendMailRequest({ subject: key }, key)) })
            : client
                .sendMail(aSendMailRequest({ subject: keys[0] }, keys[0]))
                .then((accepted) => ({ results: [{ index: 0, accepted, rejected: undefined }] }));
        const done = answer
          .then(
            ({ results }) => {
              call.code = 'OK';
              results.forEach((result, index) =>
                ledger.record(
                  keys[index],
                  result.accepted
                    ? { kind: 'ok', messageId: result.accepted.messageId }
                    : { kind: 'failed', code: result.rejected?.code ?? 'rejected' },
                ),
              );
            },
            (error: ServiceError) => {
              call.code = status[error.code] ?? `no status (${String(error)})`;
              call.details = error.details;
              call.advisedMs = advisedRetryDelayMs(error.metadata);
              call.retryAfter = error.metadata?.get('retry-after')[0]?.toString();
              for (const key of keys) ledger.record(key, OutcomeLedger.outcomeOf(error));
            },
          )
          .then(() => {
            call.settled = true;
            call.answeredWhileHeld = held;
          });
        const call: SentCall = { keys, kind, done, settled: false };
        calls.push(call);
        return call;
      };

      // The gateway accepts while its writer is free.
      const warmUp = Array.from({ length: 5 }, () => send('single'));
      await Promise.all(warmUp.map((call) => call.done));
      expect(warmUp.map((call) => call.code)).toEqual(warmUp.map(() => 'OK'));

      const rssAtStart = rssMiB(child.pid);
      let rssMax = rssAtStart;
      const lock = await TableWriteLock.take(database.env.DATABASE_URL, 'outbox_message');
      held = true;
      let writersWaiting = 0;
      try {
        // Batches until some are answered: the first ones take every commit slot and wait on the
        // lock, the next ones fill the queue, and past its limit calls must be turned away.
        const answeredBatches = () => calls.filter((call) => call.kind === 'batch' && call.settled).length;
        for (let batch = 0; batch < MAX_BATCHES && answeredBatches() < REFUSED_BATCHES; batch++) {
          const call = send('batch');
          // Pacing only: a call that has not answered by then is waiting for a commit.
          await Promise.race([call.done, sleep(100)]);
          rssMax = Math.max(rssMax, rssMiB(child.pid));
        }
        // The queue is full now (five waiting batches of a fifth of it): a single message is refused
        // as well. Nothing can commit, so these answers can only be refusals, and they must come
        // while the lock is held (a call queued instead would wait here until jest's timeout).
        if (answeredBatches() >= REFUSED_BATCHES) {
          await Promise.all(Array.from({ length: REFUSED_SINGLES }, () => send('single').done));
        }
        writersWaiting = await lock.waiting();
        rssMax = Math.max(rssMax, rssMiB(child.pid));
      } finally {
        held = false;
        await lock.release();
      }
      await Promise.all(calls.map((call) => call.done));
      rssMax = Math.max(rssMax, rssMiB(child.pid));
      client.close();

      const stored = await storedMessages();
      const figures = ledger.figures(stored.map((row) => row.id));
      const underLoad = calls.slice(warmUp.length);
      const whileHeld = underLoad.filter((call) => call.answeredWhileHeld);
      const refused = underLoad.filter((call) => call.code === 'RESOURCE_EXHAUSTED');
      const refusedKeys = new Set(refused.flatMap((call) => call.keys));
      const storedOfRefused = stored.filter(
        (row) => refusedKeys.has(row.idempotencyKey ?? '') || refusedKeys.has(row.subject),
      );
      const counts: Record<string, number> = {};
      for (const call of underLoad) {
        const label = `${call.kind} ${call.code} ${call.answeredWhileHeld ? 'while held' : 'after release'}`;
        counts[label] = (counts[label] ?? 0) + 1;
      }
      const advised = refused.map((call) => call.advisedMs ?? NaN);
      console.log(
        formatFigures('7 overload, writer held', figures, {
          'queue limit': QUEUE_LIMIT,
          'messages per batch': BATCH,
          calls: JSON.stringify(counts),
          'gateway writers waiting on the lock': writersWaiting,
          'advised retry ms': advised.length ? `${Math.min(...advised)}-${Math.max(...advised)}` : 'none',
          'retry-after s': [...new Set(refused.map((call) => call.retryAfter))].join(',') || 'none',
          'refused messages stored': storedOfRefused.length,
          'rss MiB start/max': `${Math.round(rssAtStart)}/${Math.round(rssMax)}`,
          crashed: child.hasExited ? 'yes' : 'no',
        }),
      );

      // The scenario did what it says: the gateway's commits waited on the lock, none finished.
      expect(writersWaiting).toBeGreaterThan(0);
      expect(whileHeld.filter((call) => call.code === 'OK')).toEqual([]);
      // Refusals came while nothing could commit, so without waiting for a commit: for batches,
      // then for every single call into the full queue...
      expect(
        whileHeld.filter((call) => call.kind === 'batch' && call.code === 'RESOURCE_EXHAUSTED').length,
      ).toBeGreaterThanOrEqual(REFUSED_BATCHES);
      expect(
        underLoad.filter((call) => call.kind === 'single').map((call) => [call.code, call.answeredWhileHeld]),
      ).toEqual(Array.from({ length: REFUSED_SINGLES }, () => ['RESOURCE_EXHAUSTED', true]));
      for (const call of refused) {
        // ...from the outbox's admission control (not a rate limit), each with a retry delay, as
        // RetryInfo (what the client reads first) and as retry-after.
        expect(call.details).toMatch(/overloaded \(\d+ messages wait for a commit\)/);
        expect(call.advisedMs).toBeGreaterThan(0);
        expect(Number(call.retryAfter)).toBeGreaterThan(0);
      }
      // The calls that waited for a commit went through once the writer was free.
      expect(underLoad.filter((call) => call.code === 'OK').length).toBeGreaterThan(0);
      expect(
        [...new Set(calls.map((call) => call.code!))].filter((code) => !ALLOWED_CODES.includes(code)),
      ).toEqual([]);
      // Nothing of a refused call is stored, by idempotency key or by subject...
      expect(storedOfRefused).toEqual([]);
      // ...every acknowledged message is, and nothing else.
      expect(figures.acknowledged).toBeGreaterThan(warmUp.length);
      expect(figures.lost).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(stored).toHaveLength(figures.acknowledged);
      expect(child.hasExited).toBe(false);
      expect(rssMax).toBeLessThan(MAX_RSS_MIB);
    },
    sized(120_000, 300_000),
  );

  // The full form measures an open loop as well: figures to read, not to assert on (the machine's
  // two cores are shared with the load generator, so whether and how fast it refuses varies).
  if (RELIABILITY_FULL)
    it('at three times the sustainable rate for a minute: prints its figures, stays bounded, loses nothing', async () => {
      const OVERLOAD_MS = 60_000;
      const CALIBRATION_MS = 5_000;
      const OVERLOAD_FACTOR = 3;
      const OPEN_LOOP_BATCH = 250;
      const { child, port, upstreamLog } = await startGateway();
      const client = singleAttemptClient(`127.0.0.1:${port}`, { deadlineMs: 10_000 });
      const ledger = new OutcomeLedger();
      let sequence = 0;
      // Batches: a load generator on the same two cores cannot outrun the gateway with single
      // calls, but it can with batches, which cost it little per message.
      const call = async (latencies?: Map<string, number[]>) => {
        const keys = Array.from({ length: OPEN_LOOP_BATCH }, () => `open-loop-${sequence++}`);
        const started = performance.now();
        let code = 'OK';
        let advisedMs: number | undefined;
        let accepted = 0;
        try {
          const { results } = await client.sendMailBatch({
            items: keys.map((key) => aSendMailRequest({ subject: key }, key)),
          });
          results.forEach((result, index) => {
            if (result.accepted) accepted++;
            ledger.record(
              keys[index],
              result.accepted
                ? { kind: 'ok', messageId: result.accepted.messageId }
                : { kind: 'failed', code: result.rejected?.code ?? 'rejected' },
            );
          });
        } catch (error) {
          code = status[(error as ServiceError).code] ?? 'no status';
          advisedMs = advisedRetryDelayMs((error as ServiceError).metadata);
          for (const key of keys) ledger.record(key, OutcomeLedger.outcomeOf(error));
        }
        latencies?.set(code, [...(latencies.get(code) ?? []), performance.now() - started]);
        return { code, advisedMs, accepted };
      };

      // The sustainable rate (messages/s): what callers that wait for each answer get through,
      // once the process has warmed up.
      const closedLoop = async (ms: number) => {
        const end = Date.now() + ms;
        let accepted = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (Date.now() < end) accepted += (await call()).accepted;
          }),
        );
        return accepted;
      };
      await closedLoop(2_000);
      const calibrated = await closedLoop(CALIBRATION_MS);
      const sustainablePerSecond = Math.round(calibrated / (CALIBRATION_MS / 1000));
      const offeredPerSecond = sustainablePerSecond * OVERLOAD_FACTOR;

      // Open loop: calls go out on a fixed schedule whether or not earlier ones were answered.
      const rssAtStart = rssMiB(child.pid);
      let rssMax = rssAtStart;
      const latencies = new Map<string, number[]>();
      const advised: number[] = [];
      const pending: Promise<unknown>[] = [];
      const tickMs = 20;
      // At least one batch a tick: at least three times the sustainable rate, often more.
      const perTick = Math.max(1, Math.round((offeredPerSecond * tickMs) / 1000 / OPEN_LOOP_BATCH));
      const overloadStart = Date.now();
      for (let tick = 0; Date.now() < overloadStart + OVERLOAD_MS; tick++) {
        for (let index = 0; index < perTick; index++) {
          pending.push(
            call(latencies).then(({ advisedMs }) => advisedMs !== undefined && advised.push(advisedMs)),
          );
        }
        if (tick % 25 === 0) rssMax = Math.max(rssMax, rssMiB(child.pid));
        const next = overloadStart + (tick + 1) * tickMs;
        await sleep(Math.max(0, next - Date.now()));
      }
      const offeredActual = Math.round(
        (pending.length * OPEN_LOOP_BATCH) / ((Date.now() - overloadStart) / 1000),
      );
      await Promise.all(pending);
      rssMax = Math.max(rssMax, rssMiB(child.pid));
      client.close();

      // "lost" here is what was acknowledged and is not in the outbox: the backlog is far larger than
      // the delivery loop clears in a test's time, and delivery is other scenarios' work.
      const dataSource = await openTestDataSource(database.env);
      let stored: string[];
      try {
        const rows: { id: string }[] = await dataSource.query('SELECT id FROM outbox_message');
        stored = rows.map((row) => row.id);
      } finally {
        await dataSource.destroy();
      }
      const figures = ledger.figures(stored);
      const refused = [
        ...(latencies.get('RESOURCE_EXHAUSTED') ?? []),
        ...(latencies.get('UNAVAILABLE') ?? []),
      ];
      const counts = Object.fromEntries([...latencies].map(([code, values]) => [code, values.length]));
      console.log(
        formatFigures('7 overload, open loop', figures, {
          'sustainable/s': sustainablePerSecond,
          'offered/s': offeredActual,
          'messages per call': OPEN_LOOP_BATCH,
          'overload s': OVERLOAD_MS / 1000,
          'calls under overload': JSON.stringify(counts),
          'ok calls p99 ms': Math.round(percentile(latencies.get('OK') ?? [], 0.99)),
          'refused p50 ms': Math.round(percentile(refused, 0.5)),
          'refused p99 ms': Math.round(percentile(refused, 0.99)),
          'advised retry ms': advised.length ? `${Math.min(...advised)}-${Math.max(...advised)}` : 'none',
          'rss MiB start/max': `${Math.round(rssAtStart)}/${Math.round(rssMax)}`,
          'lost counts': 'acknowledged but not in the outbox',
          'delivered so far': (await readSandboxLog(upstreamLog)).length,
          crashed: child.hasExited ? 'yes' : 'no',
        }),
      );
      expect(child.hasExited).toBe(false);
      expect(figures.acknowledged).toBeGreaterThan(0);
      expect(figures.lost).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(Object.keys(counts).filter((code) => !ALLOWED_CODES.includes(code))).toEqual([]);
      expect(rssMax).toBeLessThan(MAX_RSS_MIB);
    }, 400_000);
});
