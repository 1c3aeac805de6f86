import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runMigrations } from '@mailgateway/database';
import {
  aSendMailRequest,
  DisposablePostgres,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  sendUntilAcknowledged,
  settledOutbox,
  waitFor,
  TEST_CONTENT_KEYS,
} from '@mailgateway/testing';
import { singleAttemptClient } from '../support/single-attempt-client';
import { sized } from './reliability-scale';

const MESSAGES = sized(600, 3_000);
const DELIVERY_CONCURRENCY = 10;
const OUTAGE_MS = sized(5_000, 30_000);

// Scenario 2: the suite's own PostgreSQL stopped in immediate mode mid-run, then started again.
describe('Reliability: PostgreSQL stopped mid-run', () => {
  let postgres: DisposablePostgres;
  let gateway: GatewayProcess | undefined;
  let scratch: string;

  beforeAll(async () => {
    postgres = await DisposablePostgres.create();
    const dataSource = await openTestDataSource({ DATABASE_URL: postgres.url });
    await runMigrations(dataSource);
    await dataSource.destroy();
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-outage-'));
  });

  afterAll(async () => {
    await gateway?.crash();
    await postgres?.destroy();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    `answers UNAVAILABLE during a ${OUTAGE_MS / 1000} s outage, recovers without a restart, loses nothing`,
    async () => {
      const port = await freePort();
      const upstreamLog = join(scratch, 'upstream.jsonl');
      gateway = await GatewayProcess.start({
        DATABASE_URL: postgres.url,
        CONTENT_KEYS: TEST_CONTENT_KEYS,
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        DELIVERY_POLL_INTERVAL_MS: '20',
        DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
        RETRY_BASE_DELAY_MS: '20',
        HEALTH_CHECK_INTERVAL_MS: '200',
      });
      // No deadline of its own to speak of: a call that hangs must show as one still pending when
      // the outage ends, with jest's timeout as the only time limit.
      const client = singleAttemptClient(`127.0.0.1:${port}`, { deadlineMs: 600_000 });
      const ledger = new OutcomeLedger();
      let phase: 'before' | 'outage' | 'after' = 'before';
      /** While set, callers wait here before their next call. */
      let gate: Promise<void> | undefined;
      /** Calls started while the database was down: how each ended, and how long it took. */
      const outageCalls: { done: Promise<void>; outcome?: string; ms?: number }[] = [];
      const callers = sendUntilAcknowledged({
        keys: Array.from({ length: MESSAGES }, (_, index) => `outage-${index}`),
        request: (key) => aSendMailRequest({ subject: key }, key),
        send: async (request) => {
          while (gate) await gate;
          const call = client.sendMail(request);
          if (phase === 'outage') {
            const started = Date.now();
            const record: (typeof outageCalls)[number] = {
              done: call.then(
                () => void (record.outcome = 'ok'),
                (error: unknown) => {
                  const outcome = OutcomeLedger.outcomeOf(error);
                  record.outcome = outcome.kind === 'ok' ? 'ok' : `${outcome.kind} ${outcome.code}`;
                },
              ),
            };
            void record.done.then(() => (record.ms = Date.now() - started));
            outageCalls.push(record);
          }
          return call;
        },
        ledger,
        callers: 4,
        pauseMs: Math.round((OUTAGE_MS * 3 * 4) / MESSAGES),
        retryDelayMs: 100,
        deadline: Date.now() + OUTAGE_MS + 120_000,
      });

      await waitFor(
        'a third of the run',
        () => (ledger.acknowledged.size >= MESSAGES / 3 ? true : undefined),
        {
          timeoutMs: 60_000,
        },
      );
      // From the moment the server has exited, no call can commit.
      await postgres.stopImmediately();
      phase = 'outage';
      await sleep(OUTAGE_MS);
      // Before the database comes back, every call started during the outage must have its answer:
      // new calls wait, and the ones out there are awaited (a hanging one fails on jest's timeout).
      let reopen!: () => void;
      gate = new Promise((resolve) => (reopen = resolve));
      await Promise.all(outageCalls.map((call) => call.done));
      phase = 'after';
      await postgres.start();
      gate = undefined;
      reopen();
      await callers;

      const dataSource = await openTestDataSource({ DATABASE_URL: postgres.url });
      try {
        const { stored, figures } = await settledOutbox(dataSource, ledger, upstreamLog, {
          timeoutMs: 60_000,
        });
        const duringOutage: Record<string, number> = {};
        for (const { outcome } of outageCalls) {
          const label = outcome ?? 'no answer';
          duringOutage[label] = (duringOutage[label] ?? 0) + 1;
        }
        const slowestDuringOutage = Math.max(0, ...outageCalls.map((call) => call.ms ?? 0));
        client.close();

        console.log(
          formatFigures('2 PostgreSQL stopped', figures, {
            messages: MESSAGES,
            'outage ms': OUTAGE_MS,
            'calls during outage': JSON.stringify(duringOutage),
            'slowest call during outage ms': slowestDuringOutage,
            'stored rows': stored,
            'gateway restarted': gateway.hasExited ? 'yes' : 'no',
          }),
        );
        expect(gateway.hasExited).toBe(false);
        // Calls were made during the outage, none succeeded, and each was refused as a gateway
        // refuses when its storage is gone (UNAVAILABLE, "retry with backoff"), before the end.
        expect(outageCalls.length).toBeGreaterThan(0);
        expect(duringOutage).toEqual({ 'failed UNAVAILABLE': outageCalls.length });
        expect(figures.lost).toBe(0);
        expect(figures.unexpected).toBe(0);
        // A delivery sent just before the database went away cannot record its outcome; it is sent
        // again once its lease runs out (at least once). Only those in flight then can repeat.
        expect(figures.duplicates).toBeLessThanOrEqual(DELIVERY_CONCURRENCY);
        expect(ledger.acknowledged.size).toBe(MESSAGES);
        expect(stored).toBe(MESSAGES);
      } finally {
        await dataSource.destroy();
      }
    },
    sized(120_000, 300_000),
  );
});
