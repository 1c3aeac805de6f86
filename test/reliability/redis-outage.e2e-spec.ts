import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import {
  aSendMailRequest,
  CallOutcome,
  DATABASE_KINDS,
  formatFigures,
  OutcomeLedger,
  OwnRedisServer,
  provisionTestDatabase,
  sandboxFigures,
  sendUntilAcknowledged,
  TestDatabase,
  uniqueRedisPrefix,
  waitFor,
} from '@mailgateway/testing';
import { expectGrpcError } from '../support/grpc-assertions';
import { singleAttemptClient } from '../support/single-attempt-client';
import { startTestGateway, TestGateway } from '../support/test-gateway';
import { sized } from './reliability-scale';

const LIMIT = 3;
const MESSAGES = sized(600, 3_000);
const OUTAGE_MS = sized(3_000, 30_000);
const REDIS_COMMAND_TIMEOUT_MS = 200;
const LOAD_TEST_TIMEOUT_MS = sized(120_000, 300_000);
const POLICIES = ['open', 'closed'] as const;
/** How every call begun while Redis is down must end, per RATE_LIMIT_ON_REDIS_FAILURE. */
const ANSWER_DURING_OUTAGE = { open: 'ok', closed: 'failed UNAVAILABLE' } as const;

const labelOf = (outcome: CallOutcome) => (outcome.kind === 'ok' ? 'ok' : `${outcome.kind} ${outcome.code}`);

// Scenario 6: a Redis of the suite's own, stopped and started mid-run (the machine's shared Redis
// is never touched), under both documented failure policies.
describe('Reliability: Redis stopped mid-run', () => {
  describe.each(DATABASE_KINDS)('rate limits on %s', (kind) => {
    let redis: OwnRedisServer;
    let database: TestDatabase;
    let failOpen: TestGateway;
    let failClosed: TestGateway;

    beforeAll(async () => {
      redis = await OwnRedisServer.start();
      database = await provisionTestDatabase(kind);
      const env = {
        ...database.env,
        DELIVERY_ENABLED: 'false',
        REDIS_URL: redis.url,
        REDIS_COMMAND_TIMEOUT_MS: '100',
        RATE_LIMIT_SOURCE_MESSAGES: String(LIMIT),
        LOG_LEVEL: 'fatal',
      };
      failOpen = await startTestGateway({
        ...env,
        REDIS_KEY_PREFIX: uniqueRedisPrefix(),
        RATE_LIMIT_ON_REDIS_FAILURE: 'open',
      });
      failClosed = await startTestGateway({
        ...env,
        REDIS_KEY_PREFIX: uniqueRedisPrefix(),
        RATE_LIMIT_ON_REDIS_FAILURE: 'closed',
      });
    });

    afterAll(async () => {
      await failOpen?.close();
      await failClosed?.close();
      await redis?.stop();
      await database?.drop();
    });

    const send = (gateway: TestGateway) => gateway.client.sendMail(aSendMailRequest());
    const outcome = (gateway: TestGateway) =>
      send(gateway).then(
        () => 'OK',
        (error: ServiceError) => status[error.code],
      );

    it('limits through Redis while it is up, then applies the configured failure policy, then limits again', async () => {
      for (const gateway of [failOpen, failClosed]) {
        for (let i = 0; i < LIMIT; i++) await send(gateway);
        await expectGrpcError(send(gateway), status.RESOURCE_EXHAUSTED);
      }

      await redis.stop();

      // Fail open: calls pass unthrottled, well past the limit. Fail closed: UNAVAILABLE, nothing stored.
      const stored = await failClosed.count('outbox_message'); // one database for both gateways
      for (let i = 0; i < 2 * LIMIT; i++) {
        expect(await outcome(failOpen)).toBe('OK');
        await expectGrpcError(
          send(failClosed),
          status.UNAVAILABLE,
          'rate limiter unavailable; retry with backoff',
        );
      }
      expect(await failClosed.count('outbox_message')).toBe(stored + 2 * LIMIT);

      await redis.start();

      // Both reconnect on their own; the restarted Redis has fresh counters, so limits hold anew.
      // Fail closed: the first OK means Redis is back, and the limit then holds.
      await waitFor('the fail-closed gateway to use Redis again', async () =>
        (await outcome(failClosed)) === 'OK' ? true : undefined,
      );
      for (let i = 1; i < LIMIT; i++) await send(failClosed);
      await expectGrpcError(send(failClosed), status.RESOURCE_EXHAUSTED);
      // Fail open passes everything while disconnected, so it is back once it throttles again.
      await waitFor('the fail-open gateway to throttle again', async () =>
        (await outcome(failOpen)) === 'RESOURCE_EXHAUSTED' ? true : undefined,
      );
    });
  });

  describe('under load, on postgres', () => {
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
      `follows RATE_LIMIT_ON_REDIS_FAILURE through a ${OUTAGE_MS / 1000} s outage: every call there answered as the policy says while Redis is down, nothing lost`,
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
            const client = singleAttemptClient(gateway.address, {
              // No deadline of its own: the test's timeout is the only time limit.
              deadlineMs: LOAD_TEST_TIMEOUT_MS,
            });
            return {
              policy,
              gateway,
              client,
              upstreamLog,
              ledger: new OutcomeLedger(),
              /** Each call begun while Redis was down: how it ended, and how long it took. */
              outageCalls: [] as Promise<{ label: string; ms: number }>[],
            };
          }),
        );

        // While Redis is down every call is tracked. The outage ends only once each of those calls
        // has been answered with Redis still down: none may wait for Redis to come back.
        let outage = false;
        let gate: Promise<void> = Promise.resolve();
        let openGate = () => {};
        const callers = runs.map((run) =>
          sendUntilAcknowledged({
            keys: Array.from({ length: MESSAGES / 2 }, (_, index) => `redis-${run.policy}-${index}`),
            request: (key) => aSendMailRequest({ subject: key }, key),
            send: async (request) => {
              await gate;
              const call = run.client.sendMail(request);
              if (outage) {
                const started = Date.now();
                run.outageCalls.push(
                  call
                    .then(
                      (response) => ({ kind: 'ok', messageId: response.messageId }) as const,
                      (error: unknown) => OutcomeLedger.outcomeOf(error),
                    )
                    .then((ended) => ({ label: labelOf(ended), ms: Date.now() - started })),
                );
              }
              return call;
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
        gate = new Promise((resolve) => (openGate = resolve));
        for (const run of runs) {
          // A caller past the gate a moment ago may still add a call: wait until none comes.
          for (let seen = -1; seen !== run.outageCalls.length;) {
            seen = run.outageCalls.length;
            await Promise.all(run.outageCalls);
          }
        }
        const outageMs = Date.now() - outageStart;
        outage = false;
        await redis.start();
        openGate();
        await Promise.all(callers);

        for (const run of runs) {
          await run.gateway.waitForFinalStates(MESSAGES / 2, 60_000);
          const figures = await sandboxFigures(run.ledger, run.upstreamLog);
          const answered = await Promise.all(run.outageCalls);
          const duringOutage: Record<string, number> = {};
          for (const { label } of answered) duringOutage[label] = (duringOutage[label] ?? 0) + 1;
          run.client.close();
          console.log(
            formatFigures(`6 Redis stopped, policy ${run.policy}`, figures, {
              messages: MESSAGES / 2,
              'outage ms': outageMs,
              'calls during outage': JSON.stringify(duringOutage),
              'slowest call during outage ms':
                answered.length > 0 ? Math.max(...answered.map(({ ms }) => ms)) : 'none',
            }),
          );
          // Calls really happened during the outage, and each got the policy's answer.
          expect(answered.length).toBeGreaterThan(0);
          expect(duringOutage).toEqual({ [ANSWER_DURING_OUTAGE[run.policy]]: answered.length });
          expect(run.ledger.idempotencyConflicts).toEqual([]);
          expect(run.ledger.acknowledged.size).toBe(MESSAGES / 2);
          expect(figures.lost).toBe(0);
          expect(figures.duplicates).toBe(0);
          expect(figures.unexpected).toBe(0);
        }
      },
      LOAD_TEST_TIMEOUT_MS,
    );
  });
});
