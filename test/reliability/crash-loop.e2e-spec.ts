import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  provisionTestDatabase,
  sendUntilAcknowledged,
  settledOutbox,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { singleAttemptClient } from '../support/single-attempt-client';
import { sized } from './reliability-scale';

const MESSAGES = sized(1_000, 10_000);
const KILLS = sized(3, 20);
const CALLERS = 10;
const DELIVERY_CONCURRENCY = 10;
/** Claims taken ahead of free slots: claimed (sending) but not sent until a slot frees. */
const DELIVERY_CLAIM_BATCH = 40;
/**
 * Deliveries (at most 100/s with 10 in flight) are slower than acceptance, so a backlog builds and a
 * kill finds the running process with claims in flight.
 */
const SANDBOX_LATENCY_MS = 100;
/** A kill waits for this many claims in flight, so a few still are when the signal lands. */
const IN_FLIGHT_BEFORE_KILL = 3;

// Scenario 1: kill -9 a gateway process again and again, while deliveries are in flight and callers
// retry with the same keys; on SQLite and on PostgreSQL.
describe.each(DATABASE_KINDS)('Reliability: kill -9 during a run on %s', (kind) => {
  let database: TestDatabase;
  let dataSource: DataSource | undefined;
  let scratch: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-crash-loop-'));
  });

  afterAll(async () => {
    await gateway?.crash();
    await dataSource?.destroy();
    await database?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  const count = async (where: string, parameters: unknown[] = []): Promise<number> => {
    const [{ count }] = await dataSource!.query(
      `SELECT COUNT(*) AS count FROM outbox_message WHERE ${where}`,
      parameters,
    );
    return Number(count);
  };
  /**
   * Messages claimed since `since` (epoch ms) and not finished, in the one process running since
   * then: in flight, or waiting for a slot (those were never sent).
   */
  const inFlightSince = (since: number) =>
    count(`status = 'sending' AND updated_at >= ${kind === 'postgres' ? '$1' : '?'}`, [since]);

  it(
    `loses no acknowledged message across ${KILLS} kills in a ${MESSAGES}-message run`,
    async () => {
      const port = await freePort();
      const upstreamLog = join(scratch, 'upstream.jsonl');
      const env = {
        ...database.env,
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        SANDBOX_LATENCY_MS: String(SANDBOX_LATENCY_MS),
        DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
        DELIVERY_CLAIM_BATCH: String(DELIVERY_CLAIM_BATCH),
        DELIVERY_LEASE_MS: '1000',
        DELIVERY_POLL_INTERVAL_MS: '20',
        RETRY_BASE_DELAY_MS: '20',
        RETRY_MAX_DELAY_MS: '500',
      };
      const ledger = new OutcomeLedger();
      const keys = Array.from({ length: MESSAGES }, (_, index) => `crash-loop-${kind}-${index}`);
      const client = singleAttemptClient(`127.0.0.1:${port}`, { deadlineMs: 5_000 });
      const inFlightAtKills: number[] = [];

      let startedAt = Date.now();
      gateway = await GatewayProcess.start(env);
      dataSource = await openTestDataSource(database.env); // SQLite: the gateway has migrated the file
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
          `acknowledgements and deliveries in flight before kill ${kill}`,
          async () =>
            ledger.acknowledged.size >= (kill * MESSAGES) / (KILLS + 1) &&
            (await inFlightSince(startedAt)) >= IN_FLIGHT_BEFORE_KILL
              ? true
              : undefined,
          { timeoutMs: 120_000 },
        );
        await gateway.crash();
        inFlightAtKills.push(await inFlightSince(startedAt));
        startedAt = Date.now();
        gateway = await GatewayProcess.start(env);
      }
      await callers;

      const { stored, figures } = await settledOutbox(dataSource, ledger, upstreamLog, {
        timeoutMs: 120_000,
      });
      const delivered = await count("status = 'delivered'");
      const inFlightBound = inFlightAtKills.reduce((sum, inFlight) => sum + inFlight, 0);
      client.close();

      console.log(
        formatFigures(`1 kill -9 on ${kind}`, figures, {
          messages: MESSAGES,
          kills: KILLS,
          'stored rows': stored,
          'delivered rows': delivered,
          'in flight at each kill': inFlightAtKills.join('/'),
          'in flight at kills (sum)': inFlightBound,
          outcomes: JSON.stringify(ledger.outcomeCounts()),
        }),
      );
      expect(ledger.acknowledged.size).toBe(MESSAGES);
      expect(new Set(ledger.acknowledged.values()).size).toBe(MESSAGES);
      expect(ledger.idempotencyConflicts).toEqual([]);
      expect(figures.lost).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(stored).toBe(MESSAGES);
      expect(delivered).toBe(MESSAGES);
      // Every kill happened, each with claims of the killed process under way, never more than its
      // DELIVERY_CONCURRENCY in flight and DELIVERY_CLAIM_BATCH waiting for a slot.
      expect(inFlightAtKills).toHaveLength(KILLS);
      expect(inFlightAtKills.every((inFlight) => inFlight > 0)).toBe(true);
      expect(
        inFlightAtKills.every((inFlight) => inFlight <= DELIVERY_CONCURRENCY + DELIVERY_CLAIM_BATCH),
      ).toBe(true);
      // A message is delivered twice only if a kill caught it being sent: claimed, and at most
      // DELIVERY_CONCURRENCY of those per kill (claims waiting for a slot were never sent).
      expect(figures.duplicates).toBeLessThanOrEqual(inFlightBound);
      expect(figures.duplicates).toBeLessThanOrEqual(KILLS * DELIVERY_CONCURRENCY);
    },
    sized(180_000, 900_000),
  );
});
