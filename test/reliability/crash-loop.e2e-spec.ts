import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  sendUntilAcknowledged,
  TestDatabase,
  waitFor,
  TEST_API_KEY,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { sized } from './reliability-scale';

const MESSAGES = sized(1_000, 10_000);
const KILLS = sized(3, 20);
const CALLERS = 10;
const DELIVERY_CONCURRENCY = 10;

// Scenario 1: kill -9 a gateway process again and again while callers retry with the same keys.
describe('Reliability: kill -9 during a run', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let scratch: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    database = await provisionTestDatabase('postgres');
    dataSource = await openTestDataSource(database.env);
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-crash-loop-'));
  });

  afterAll(async () => {
    await gateway?.crash();
    await dataSource?.destroy();
    await database?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    `loses no acknowledged message across ${KILLS} kills in a ${MESSAGES}-message run`,
    async () => {
      const port = await freePort();
      const upstreamLog = join(scratch, 'upstream.jsonl');
      const env = {
        ...database.env,
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        SANDBOX_LATENCY_MS: '5',
        DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
        DELIVERY_LEASE_MS: '1000',
        DELIVERY_POLL_INTERVAL_MS: '20',
        RETRY_BASE_DELAY_MS: '20',
        RETRY_MAX_DELAY_MS: '500',
      };
      const ledger = new OutcomeLedger();
      const keys = Array.from({ length: MESSAGES }, (_, index) => `crash-loop-${index}`);
      const client = new MailGatewayClient({
        address: `127.0.0.1:${port}`,
        apiKey: TEST_API_KEY,
        deadlineMs: 5_000,
        retry: { maxAttempts: 1 },
      });
      const inFlightAtKills: number[] = [];

      gateway = await GatewayProcess.start(env);
      const callers = sendUntilAcknowledged({
        keys,
        request: (key) => aSendMailRequest({ subject: key }, key),
        send: (request) => client.sendMail(request),
        ledger,
        callers: CALLERS,
        // Spreads acceptance over the run, so kills land while calls and deliveries are both under way.
        pauseMs: sized(10, 30),
        deadline: Date.now() + sized(120_000, 600_000),
      });
      for (let kill = 1; kill <= KILLS; kill++) {
        await waitFor(
          `acknowledgements before kill ${kill}`,
          () => (ledger.acknowledged.size >= (kill * MESSAGES) / (KILLS + 1) ? true : undefined),
          { timeoutMs: 120_000 },
        );
        await gateway.crash();
        const [{ count }] = await dataSource.query(
          "SELECT COUNT(*) AS count FROM outbox_message WHERE status = 'sending'",
        );
        inFlightAtKills.push(Number(count));
        gateway = await GatewayProcess.start(env);
      }
      await callers;
      expect(ledger.acknowledged.size).toBe(MESSAGES);

      await waitFor(
        'every message to reach a final state',
        async () => {
          const [{ active }] = await dataSource.query(
            "SELECT COUNT(*) AS active FROM outbox_message WHERE status IN ('queued', 'sending', 'retrying')",
          );
          return Number(active) === 0 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      const figures = ledger.figures((await readSandboxLog(upstreamLog)).map((record) => record.messageId));
      const [{ stored }] = await dataSource.query('SELECT COUNT(*) AS stored FROM outbox_message');
      const inFlightBound = inFlightAtKills.reduce((sum, count) => sum + count, 0);
      client.close();

      console.log(
        formatFigures('1 kill -9', figures, {
          messages: MESSAGES,
          kills: KILLS,
          'stored rows': Number(stored),
          'in flight at kills (sum)': inFlightBound,
          outcomes: JSON.stringify(ledger.outcomeCounts()),
        }),
      );
      expect(ledger.idempotencyConflicts).toEqual([]);
      expect(figures.lost).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(Number(stored)).toBe(MESSAGES);
      // A message is delivered twice only if a kill caught it in flight.
      expect(figures.duplicates).toBeLessThanOrEqual(inFlightBound);
      expect(Math.max(...inFlightAtKills)).toBeLessThanOrEqual(DELIVERY_CONCURRENCY);
    },
    sized(180_000, 900_000),
  );
});
