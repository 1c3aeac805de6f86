import { setTimeout as sleep } from 'node:timers/promises';
import {
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testRedisUrl,
  uniqueRedisPrefix,
  waitFor,
} from '@mailgateway/testing';
import { BudgetStoreHealth } from './budget-store-health';
import { DatabaseUpstreamBudgetStore } from './database-upstream-budget.store';
import { FleetConnectionSlots } from './fleet-connection-slots';
import { RedisUpstreamBudgetStore } from './redis-upstream-budget.store';
import type { FleetTimings, UpstreamBudgetStore } from './upstream-budget-store.interface';

// Each replica has a store of its own on one shared Redis or database, as separate processes
// would: its own Redis connection, its own PostgreSQL pool. On SQLite they share the one
// connection of this process: better-sqlite3 waits for a lock synchronously, so a second
// connection in the same process would block the event loop the first needs to let go of its
// lock. Replicas in separate processes on one SQLite file are left to the database's own locking.
const TIMINGS: FleetTimings = { heartbeatTtlMs: 800, rotationMs: 3_600_000, wantingMs: 2_000 };
const KINDS = ['redis', 'postgres', 'sqlite'] as const;
const until = (description: string, condition: () => boolean) =>
  waitFor(description, () => (condition() ? true : undefined), { intervalMs: 10, timeoutMs: 30_000 });

describe.each(KINDS)('the upstream budget store on %s', (kind) => {
  let database: MigratedTestDatabase | undefined;
  let redisPrefix: string;
  const stores: UpstreamBudgetStore[] = [];
  const slots: FleetConnectionSlots[] = [];
  const heartbeats: NodeJS.Timeout[] = [];
  let host: string;
  let hostCount = 0;

  beforeAll(async () => {
    if (kind !== 'redis') database = await openMigratedTestDatabase(kind);
  });

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(() => {
    redisPrefix = uniqueRedisPrefix();
    host = `api-${++hostCount}.provider.test`;
  });

  afterEach(async () => {
    for (const timer of heartbeats.splice(0)) clearInterval(timer);
    for (const replica of slots.splice(0)) replica.close(new Error('test over'));
    for (const store of stores.splice(0)) await store.close();
  });

  /** A store as one more replica would open it. */
  const openStore = async (): Promise<UpstreamBudgetStore> => {
    let store: UpstreamBudgetStore;
    if (kind === 'redis') {
      const redis = new RedisUpstreamBudgetStore(
        { url: testRedisUrl(), keyPrefix: redisPrefix, commandTimeoutMs: 5_000 },
        TIMINGS,
      );
      await redis.connect();
      store = redis;
    } else {
      const { transactions } = kind === 'postgres' ? await database!.openReplica() : database!;
      store = new DatabaseUpstreamBudgetStore(transactions, TIMINGS);
    }
    stores.push(store);
    return store;
  };

  /** A replica using the host with its own store, heart-beating as the registry does. */
  const openReplica = async (name: string, budget: number) => {
    const store = await openStore();
    const replica = new FleetConnectionSlots({
      host,
      replica: name,
      budget,
      localLimit: 100,
      store,
      health: new BudgetStoreHealth(store.kind, TIMINGS.heartbeatTtlMs),
    });
    slots.push(replica);
    const timer = setInterval(() => void replica.heartbeat(), TIMINGS.heartbeatTtlMs / 4);
    heartbeats.push(timer);
    return { replica, stopHeartbeat: () => clearInterval(timer) };
  };

  /** `users` callers, each taking a connection, using it a while, closing it, until stopped. */
  const keepBusy = (replica: FleetConnectionSlots, users: number, fleet: { open: number; max: number }) => {
    let stopped = false;
    let connections = 0;
    const loops = Array.from({ length: users }, async () => {
      while (!stopped) {
        let release: () => void;
        try {
          release = await replica.acquire();
        } catch {
          return;
        }
        fleet.open++;
        fleet.max = Math.max(fleet.max, fleet.open);
        connections++;
        await sleep(20 + Math.random() * 60);
        fleet.open--;
        release();
      }
    });
    return {
      get connections() {
        return connections;
      },
      stop: async () => {
        stopped = true;
        replica.close(new Error('stopped'));
        await Promise.all(loops);
      },
    };
  };

  it('never lets four replicas with forty callers between them open more than the budget, and uses all of it', async () => {
    const fleet = { open: 0, max: 0 };
    const replicas = await Promise.all(['a', 'b', 'c', 'd'].map((name) => openReplica(name, 6)));
    const busy = replicas.map(({ replica }) => keepBusy(replica, 10, fleet));
    await until('the fleet to use its whole budget', () => fleet.max >= 6);
    await sleep(2_000);
    for (const each of busy) await each.stop();

    expect(fleet.max).toBe(6);
    expect(busy.every((each) => each.connections > 0)).toBe(true);
    console.log(
      `[budget ${kind}] budget 6, most open at once ${fleet.max}, connections per replica ${busy.map((each) => each.connections).join('/')}`,
    );
  });

  it('gives each replica its fair share while all of them want more', async () => {
    const replicas = await Promise.all(['a', 'b', 'c'].map((name) => openReplica(name, 7)));
    const held = replicas.map(({ replica }) => {
      const releases: (() => void)[] = [];
      for (let index = 0; index < 10; index++) {
        replica.acquire().then(
          (release) => releases.push(release),
          () => undefined,
        );
      }
      return releases;
    });
    await until('every replica to hold its share', () =>
      replicas.every(({ replica }) => replica.share > 0 && replica.inUse === replica.share),
    );
    await sleep(1_000);

    expect(replicas.map(({ replica }) => replica.inUse).sort()).toEqual([2, 2, 3]);
    expect(held.flat()).toHaveLength(7);
  });

  it("reclaims a dead replica's connections once its heartbeat expires", async () => {
    const a = await openReplica('a', 6);
    const b = await openReplica('b', 6);
    for (let index = 0; index < 10; index++) {
      for (const { replica } of [a, b]) replica.acquire().catch(() => undefined);
    }
    await until('both to hold their shares', () => a.replica.inUse === 3 && b.replica.inUse === 3);

    // b is killed: it never calls the store again, and its three connections stay counted until
    // its heartbeat expires.
    b.stopHeartbeat();
    b.replica.close(new Error('killed'));
    const killedAt = Date.now();
    await until('a to take the whole budget', () => a.replica.inUse === 6);
    console.log(
      `[budget ${kind}] a dead replica's share taken over after ${Date.now() - killedAt} ms (heartbeat TTL ${TIMINGS.heartbeatTtlMs} ms)`,
    );
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(TIMINGS.heartbeatTtlMs / 2);
  });

  it('takes send slots for several replicas one interval apart, and refuses one beyond the longest wait', async () => {
    const replicas = await Promise.all([openStore(), openStore(), openStore()]);
    const intervalMs = 50;
    const planned = await Promise.all(
      Array.from({ length: 15 }, async (_, index) => {
        const askedAt = performance.now();
        const decision = await replicas[index % 3].reservePermit(host, intervalMs * 1000, 10_000);
        if (!('waitMs' in decision)) throw new Error('refused');
        const answeredAt = performance.now();
        return { at: answeredAt + decision.waitMs, roundTripMs: answeredAt - askedAt };
      }),
    );
    const sorted = planned.map(({ at }) => at).sort((x, y) => x - y);
    const gaps = sorted.slice(1).map((at, index) => at - sorted[index]);
    // Each slot is known here only to within the round trip that fetched it: each gap is the
    // interval, less at most the slowest round trip.
    const slowestRoundTripMs = Math.max(...planned.map(({ roundTripMs }) => roundTripMs));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(intervalMs - slowestRoundTripMs - 1);

    const refused = await replicas[0].reservePermit(host, 10_000_000, 100);
    expect(refused).toHaveProperty('retryAfterMs');
    const later = await replicas[1].reservePermit(host, 10_000_000, 100);
    expect(later).toHaveProperty('retryAfterMs');
    expect((later as { retryAfterMs: number }).retryAfterMs).toBeLessThan(intervalMs * 16);
  });
});
