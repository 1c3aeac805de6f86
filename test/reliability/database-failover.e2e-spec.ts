import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runMigrations } from '@mailgateway/database';
import {
  aSendMailRequest,
  formatFigures,
  freePort,
  GatewayProcess,
  LedgerFigures,
  OutcomeLedger,
  openTestDataSource,
  sendUntilAcknowledged,
  settledOutbox,
  waitFor,
  TEST_CONTENT_KEYS,
} from '@mailgateway/testing';
import { PostgresServer, ReplicatedPostgres, Replication } from '../support/replicated-postgres';
import { singleAttemptClient } from '../support/single-attempt-client';
import { TcpRelay } from '../support/tcp-relay';
import { sized } from './reliability-scale';

const MESSAGES = sized(600, 3_000);
const CALLERS = 8;
const DELIVERY_CONCURRENCY = 10;
/** Added each way on the replication link: a standby in another zone. */
const LINK_LATENCY_MS = Number(process.env.FAILOVER_LINK_LATENCY_MS ?? 20);
/** From the primary's loss to the standby's promotion: failure detection, as an operator's takes. */
const DETECTION_MS = sized(1_000, 5_000);

/** While no primary takes writes: first nothing behind the address, then the standby not yet promoted. */
type SwitchPhase = 'no address' | 'standby in recovery';

interface FailoverRun {
  readonly figures: LedgerFigures;
  readonly ledger: OutcomeLedger;
  readonly gateway: GatewayProcess;
  /** How each call started between the primary's loss and the promotion ended. */
  readonly duringSwitch: Record<SwitchPhase, Record<string, number>>;
  /** Outcomes of the calls that ended after the promotion. */
  readonly afterSwitch: Record<string, number>;
  /** The new primary's outbox once settled: message id -> status. */
  readonly newPrimary: ReadonlyMap<string, string>;
  /** The old primary's outbox, read after its crash recovery: what it had committed. */
  readonly oldPrimary: ReadonlyMap<string, string>;
  /** Acknowledged messages the new primary does not hold. */
  readonly lostAcknowledged: readonly string[];
  /** Messages the old primary had recorded as delivered and the standby, when promoted, had not. */
  readonly lostDeliveryRecords: number;
}

// Scenario 11: the PostgreSQL primary's machine is lost mid-load; the standby is promoted and the
// address the gateway uses (a relay standing for a Service, VIP or pgbouncer) moves to it.
describe('Reliability: PostgreSQL primary lost, standby promoted', () => {
  let pair: ReplicatedPostgres | undefined;
  let service: TcpRelay | undefined;
  let gateway: GatewayProcess | undefined;
  let scratch: string | undefined;

  afterEach(async () => {
    await gateway?.crash();
    await service?.close();
    await pair?.destroy();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    [gateway, service, pair, scratch] = [undefined, undefined, undefined, undefined];
  });

  async function failover(replication: Replication): Promise<FailoverRun> {
    pair = await ReplicatedPostgres.create({ replication, linkLatencyMs: LINK_LATENCY_MS });
    const migrating = await openTestDataSource({ DATABASE_URL: pair.primary.url });
    await runMigrations(migrating);
    await migrating.destroy();
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-failover-'));
    service = await TcpRelay.start(pair.primary.port);

    const port = await freePort();
    const upstreamLog = join(scratch, 'upstream.jsonl');
    gateway = await GatewayProcess.start({
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${service.port}/postgres`,
      CONTENT_KEYS: TEST_CONTENT_KEYS,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      GRPC_PORT: String(port),
      SANDBOX_OUTPUT_PATH: upstreamLog,
      DELIVERY_POLL_INTERVAL_MS: '20',
      DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
      DELIVERY_LEASE_MS: '3000',
      RETRY_BASE_DELAY_MS: '20',
      HEALTH_CHECK_INTERVAL_MS: '200',
    });
    const client = singleAttemptClient(`127.0.0.1:${port}`, { deadlineMs: 600_000 });
    const ledger = new OutcomeLedger();
    let phase: 'before' | SwitchPhase | 'after' = 'before';
    /** While set, callers wait here before their next call. */
    let gate: Promise<void> | undefined;
    const switchCalls: { phase: SwitchPhase; done: Promise<void>; outcome?: string }[] = [];
    const callers = sendUntilAcknowledged({
      keys: Array.from({ length: MESSAGES }, (_, index) => `failover-${replication}-${index}`),
      request: (key) => aSendMailRequest({ subject: key }, key),
      send: async (request) => {
        while (gate) await gate;
        const call = client.sendMail(request);
        if (phase === 'no address' || phase === 'standby in recovery') {
          const record: (typeof switchCalls)[number] = {
            phase,
            done: call.then(
              () => void (record.outcome = 'ok'),
              (error: unknown) => {
                const outcome = OutcomeLedger.outcomeOf(error);
                record.outcome = outcome.kind === 'ok' ? 'ok' : `${outcome.kind} ${outcome.code}`;
              },
            ),
          };
          switchCalls.push(record);
        }
        return call;
      },
      ledger,
      callers: CALLERS,
      retryDelayMs: 100,
      deadline: Date.now() + 120_000,
    });

    await waitFor('a third of the run', () => (ledger.acknowledged.size >= MESSAGES / 3 ? true : undefined), {
      timeoutMs: 60_000,
    });
    // The primary's machine is gone: its processes, its replication link and its connections.
    const killedAt = Date.now();
    const killed = pair.killPrimary();
    service.switchTo(null);
    phase = 'no address';
    await killed;
    await sleep(DETECTION_MS / 2);
    // The address moves before the promotion: what it leads to still refuses writes (25006).
    service.switchTo(pair.standby.port);
    phase = 'standby in recovery';
    await pair.standbyCaughtUp();
    // What survived: everything the standby received and replayed, before anyone can write to it.
    const survived = await outboxOf(pair.standby);
    await sleep(DETECTION_MS / 2);
    // Every call started while no primary was reachable is answered before the promotion.
    let reopen!: () => void;
    gate = new Promise((resolve) => (reopen = resolve));
    await Promise.all(switchCalls.map((call) => call.done));
    await pair.promoteStandby();
    const switchedAt = Date.now();
    phase = 'after';
    gate = undefined;
    reopen();
    await callers;

    const dataSource = await openTestDataSource({ DATABASE_URL: pair.standby.url });
    let figures: LedgerFigures;
    try {
      ({ figures } = await settledOutbox(dataSource, ledger, upstreamLog, { timeoutMs: 60_000 }));
    } finally {
      await dataSource.destroy();
    }
    client.close();
    const newPrimary = await outboxOf(pair.standby);
    await pair.primary.start();
    const oldPrimary = await outboxOf(pair.primary);

    const duringSwitch: Record<SwitchPhase, Record<string, number>> = {
      'no address': {},
      'standby in recovery': {},
    };
    for (const { phase: during, outcome } of switchCalls) {
      const label = outcome ?? 'no answer';
      duringSwitch[during][label] = (duringSwitch[during][label] ?? 0) + 1;
    }
    const lostAcknowledged = [...ledger.acknowledged.values()].filter((id) => !newPrimary.has(id));
    const lostDeliveryRecords = [...oldPrimary].filter(
      ([id, status]) => status === 'delivered' && survived.get(id) !== 'delivered',
    ).length;
    const run: FailoverRun = {
      figures,
      ledger,
      gateway,
      duringSwitch,
      afterSwitch: ledger.outcomeCounts(switchedAt),
      newPrimary,
      oldPrimary,
      lostAcknowledged,
      lostDeliveryRecords,
    };
    console.log(
      formatFigures(`11 PostgreSQL failover (${replication})`, figures, {
        messages: MESSAGES,
        'link latency ms': LINK_LATENCY_MS,
        'acknowledged before the loss': ledger.outcomeCounts(-Infinity, killedAt).ok ?? 0,
        'calls during switch': JSON.stringify(duringSwitch),
        'calls after switch': JSON.stringify(run.afterSwitch),
        'lost acknowledged': lostAcknowledged.length,
        'lost delivery records': lostDeliveryRecords,
        'old primary rows': oldPrimary.size,
        'survived rows': survived.size,
        'new primary rows': newPrimary.size,
        'gateway restarted': gateway.hasExited ? 'yes' : 'no',
      }),
    );
    return run;
  }

  /** What both replication modes guarantee, whatever the timing. */
  function expectRecovered(run: FailoverRun): void {
    expect(run.gateway.hasExited).toBe(false);
    // Calls were made with no primary behind the address and with the standby behind it before its
    // promotion; each was refused the way a gateway refuses when its storage cannot take writes
    // (UNAVAILABLE, "retry with backoff"), none hung.
    for (const outcomes of Object.values(run.duringSwitch)) {
      expect(Object.keys(outcomes)).toEqual(['failed UNAVAILABLE']);
    }
    // No other answer at any time, and OKs again once the standby was promoted.
    expect(Object.keys(run.ledger.outcomeCounts()).sort()).toEqual(['failed UNAVAILABLE', 'ok']);
    expect(run.afterSwitch.ok).toBeGreaterThan(0);
    expect(run.ledger.acknowledged.size).toBe(MESSAGES);
    expect(run.ledger.idempotencyConflicts).toEqual([]);
    // Every message the new primary holds was delivered.
    const statuses = new Set(run.newPrimary.values());
    expect([...statuses]).toEqual(['delivered']);
    // An acknowledged message the new primary lacks was committed on the old one: lost in
    // replication, not elsewhere.
    expect(run.lostAcknowledged.filter((id) => !run.oldPrimary.has(id))).toEqual([]);
  }

  it(
    'synchronous standby: every acknowledged message survives the failover and is delivered',
    async () => {
      const run = await failover('synchronous');
      expectRecovered(run);
      expect(run.lostAcknowledged).toEqual([]);
      expect(run.figures.lost).toBe(0);
      expect(run.figures.unexpected).toBe(0);
      for (const id of run.ledger.acknowledged.values()) expect(run.newPrimary.get(id)).toBe('delivered');
      // Sent again only what was in flight at the loss: deliveries whose outcome never committed.
      expect(run.figures.duplicates).toBeLessThanOrEqual(DELIVERY_CONCURRENCY);
    },
    sized(120_000, 300_000),
  );

  it(
    'asynchronous standby: the gateway recovers; acknowledged messages lost are counted',
    async () => {
      const run = await failover('asynchronous');
      expectRecovered(run);
      // Sent again: what was in flight, and what the old primary recorded as delivered but had not
      // yet shipped to the standby.
      expect(run.figures.duplicates).toBeLessThanOrEqual(DELIVERY_CONCURRENCY + run.lostDeliveryRecords);
    },
    sized(120_000, 300_000),
  );
});

/** Message id -> status of every row of the server's outbox, read straight from it. */
async function outboxOf(server: PostgresServer): Promise<Map<string, string>> {
  const rows = await server.query<{ id: string; status: string }>('SELECT id, status FROM outbox_message');
  return new Map(rows.map(({ id, status }) => [id, status]));
}
