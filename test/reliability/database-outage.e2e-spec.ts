import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MailGatewayClient } from '@mailgateway/client';
import { runMigrations } from '@mailgateway/database';
import {
  aSendMailRequest,
  DisposablePostgres,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  readSandboxLog,
  sendUntilAcknowledged,
  waitFor,
  TEST_API_KEY,
} from '@mailgateway/testing';
import { sized } from './reliability-scale';

const MESSAGES = sized(600, 3_000);
const OUTAGE_MS = sized(5_000, 30_000);
/** A call that was under way when the server stopped may still end OK; later ones may not. */
const GRACE_MS = 1_000;

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
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        DELIVERY_POLL_INTERVAL_MS: '20',
        RETRY_BASE_DELAY_MS: '20',
        HEALTH_CHECK_INTERVAL_MS: '200',
      });
      let exited = false;
      void gateway.exited.then(() => (exited = true));
      const client = new MailGatewayClient({
        address: `127.0.0.1:${port}`,
        apiKey: TEST_API_KEY,
        deadlineMs: 10_000,
        retry: { maxAttempts: 1 },
      });
      const ledger = new OutcomeLedger();
      const durations: number[] = [];
      const callers = sendUntilAcknowledged({
        keys: Array.from({ length: MESSAGES }, (_, index) => `outage-${index}`),
        request: (key) => aSendMailRequest({ subject: key }, key),
        send: async (request) => {
          const started = Date.now();
          try {
            return await client.sendMail(request);
          } finally {
            durations.push(Date.now() - started);
          }
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
      await postgres.stopImmediately();
      const outageStart = Date.now();
      const durationsBefore = durations.length;
      await sleep(OUTAGE_MS);
      const outageEnd = Date.now();
      const slowestDuringOutage = Math.max(...durations.slice(durationsBefore));
      await postgres.start();
      await callers;

      const dataSource = await openTestDataSource({ DATABASE_URL: postgres.url });
      try {
        await waitFor(
          'every message to be delivered',
          async () => {
            const [{ active }] = await dataSource.query(
              "SELECT COUNT(*) AS active FROM outbox_message WHERE status IN ('queued', 'sending', 'retrying')",
            );
            return Number(active) === 0 ? true : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        const [{ stored }] = await dataSource.query('SELECT COUNT(*) AS stored FROM outbox_message');
        const figures = ledger.figures((await readSandboxLog(upstreamLog)).map((record) => record.messageId));
        const duringOutage = ledger.outcomeCounts(outageStart + GRACE_MS, outageEnd);
        client.close();

        console.log(
          formatFigures('2 PostgreSQL stopped', figures, {
            messages: MESSAGES,
            'outage ms': OUTAGE_MS,
            'calls during outage': JSON.stringify(duringOutage),
            'slowest call during outage ms': slowestDuringOutage,
            'stored rows': Number(stored),
            'gateway restarted': exited ? 'yes' : 'no',
          }),
        );
        expect(exited).toBe(false);
        expect(duringOutage.ok ?? 0).toBe(0);
        expect(Object.keys(duringOutage)).toEqual(['failed UNAVAILABLE']);
        expect(figures.lost).toBe(0);
        expect(figures.unexpected).toBe(0);
        expect(figures.duplicates).toBe(0);
        expect(ledger.acknowledged.size).toBe(MESSAGES);
        expect(Number(stored)).toBe(MESSAGES);
        // No call hangs: each ends within the client's deadline (10 s), well before it in fact.
        expect(slowestDuringOutage).toBeLessThan(10_000);
      } finally {
        await dataSource.destroy();
      }
    },
    sized(120_000, 300_000),
  );
});
