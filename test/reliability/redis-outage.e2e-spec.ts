import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  formatFigures,
  OutcomeLedger,
  OwnRedisServer,
  provisionTestDatabase,
  readSandboxLog,
  sendUntilAcknowledged,
  TEST_API_KEY,
  TestDatabase,
  uniqueRedisPrefix,
} from '@mailgateway/testing';
import { startTestGateway, TestGateway } from '../support/test-gateway';
import { sized } from './reliability-scale';

const MESSAGES = sized(600, 3_000);
const OUTAGE_MS = sized(3_000, 30_000);
const REDIS_COMMAND_TIMEOUT_MS = 200;
/** A call may take a Redis timeout and a commit; this only catches a hang. */
const HANG_MS = 3_000;
const POLICIES = ['open', 'closed'] as const;

// Scenario 6: a Redis of the suite's own stopped mid-run, under both documented failure policies.
describe('Reliability: Redis stopped mid-run', () => {
  let redis: OwnRedisServer;
  let scratch: string;
  const databases: TestDatabase[] = [];
  const gateways: TestGateway[] = [];

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-redis-outage-'));
  });

  afterAll(async () => {
    for (const gateway of gateways) await gateway.close();
    for (const database of databases) await database.drop();
    await redis?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    `follows RATE_LIMIT_ON_REDIS_FAILURE through a ${OUTAGE_MS / 1000} s outage; no call hangs, nothing is lost`,
    async () => {
      const runs = await Promise.all(
        POLICIES.map(async (policy) => {
          const database = await provisionTestDatabase('postgres');
          databases.push(database);
          const upstreamLog = join(scratch, `upstream-${policy}.jsonl`);
          const gateway = await startTestGateway({
            ...database.env,
            SANDBOX_OUTPUT_PATH: upstreamLog,
            REDIS_URL: redis.url,
            REDIS_KEY_PREFIX: uniqueRedisPrefix(),
            REDIS_COMMAND_TIMEOUT_MS: String(REDIS_COMMAND_TIMEOUT_MS),
            RATE_LIMIT_ON_REDIS_FAILURE: policy,
            LOG_LEVEL: 'fatal',
          });
          gateways.push(gateway);
          const client = new MailGatewayClient({
            address: gateway.address,
            apiKey: TEST_API_KEY,
            deadlineMs: 10_000,
            retry: { maxAttempts: 1 },
          });
          return {
            policy,
            gateway,
            client,
            upstreamLog,
            ledger: new OutcomeLedger(),
            slowest: [] as number[],
          };
        }),
      );

      let outage = false;
      const callers = runs.map((run) =>
        sendUntilAcknowledged({
          keys: Array.from({ length: MESSAGES / 2 }, (_, index) => `redis-${run.policy}-${index}`),
          request: (key) => aSendMailRequest({ subject: key }, key),
          send: async (request) => {
            const started = Date.now();
            try {
              return await run.client.sendMail(request);
            } finally {
              if (outage) run.slowest.push(Date.now() - started);
            }
          },
          ledger: run.ledger,
          callers: 3,
          pauseMs: Math.round((OUTAGE_MS * 3 * 3) / (MESSAGES / 2)),
          retryDelayMs: 100,
          deadline: Date.now() + OUTAGE_MS + 120_000,
        }),
      );
      while (runs.some((run) => run.ledger.acknowledged.size < MESSAGES / 6)) await sleep(50);
      await redis.stop();
      outage = true;
      const outageStart = Date.now();
      await sleep(OUTAGE_MS);
      const outageEnd = Date.now();
      outage = false;
      await redis.start();
      await Promise.all(callers);

      for (const run of runs) {
        await run.gateway.waitForFinalStates(MESSAGES / 2, 60_000);
        const figures = run.ledger.figures(
          (await readSandboxLog(run.upstreamLog)).map((record) => record.messageId),
        );
        // The first call of the outage may have been under way when Redis went.
        const duringOutage = run.ledger.outcomeCounts(outageStart + REDIS_COMMAND_TIMEOUT_MS * 2, outageEnd);
        const slowest = Math.max(0, ...run.slowest);
        run.client.close();
        console.log(
          formatFigures(`6 Redis stopped, policy ${run.policy}`, figures, {
            messages: MESSAGES / 2,
            'outage ms': OUTAGE_MS,
            'calls during outage': JSON.stringify(duringOutage),
            'slowest call during outage ms': slowest,
          }),
        );
        expect(Object.keys(duringOutage)).toEqual([run.policy === 'open' ? 'ok' : 'failed UNAVAILABLE']);
        expect(slowest).toBeLessThan(HANG_MS);
        expect(run.ledger.acknowledged.size).toBe(MESSAGES / 2);
        expect(figures.lost).toBe(0);
        expect(figures.duplicates).toBe(0);
        expect(figures.unexpected).toBe(0);
      }
    },
    sized(120_000, 300_000),
  );
});
