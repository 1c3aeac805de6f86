import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@mailgateway/testing';
import { BudgetStoreHealth } from './budget-store-health';
import { FleetConnectionSlots } from './fleet-connection-slots';
import { MemoryUpstreamBudgetStore } from './memory-upstream-budget.store';
import type { UpstreamBudgetStore } from './upstream-budget-store.interface';

const TIMINGS = { heartbeatTtlMs: 1_000, rotationMs: 3_600_000, wantingMs: 2_000 };
const HOST = 'api.provider.test';
/** Long enough for a refused replica to have asked again (its pause is at most 500 ms). */
const RETRY_MS = 700;
const until = (description: string, condition: () => boolean) =>
  waitFor(description, () => (condition() ? true : undefined), { intervalMs: 10 });

describe(FleetConnectionSlots.name, () => {
  let now: number;
  let store: UpstreamBudgetStore;
  const opened: FleetConnectionSlots[] = [];

  const replica = (
    name: string,
    budget: number,
    localLimit = 100,
    on = store,
    health = new BudgetStoreHealth(on.kind, TIMINGS.heartbeatTtlMs, undefined, () => now),
  ) => {
    const slots = new FleetConnectionSlots({
      host: HOST,
      replica: name,
      budget,
      localLimit,
      store: on,
      health,
    });
    opened.push(slots);
    return slots;
  };

  /** Resolves with how many of `count` acquisitions got a slot by now, and their releases. */
  const acquireMany = (slots: FleetConnectionSlots, count: number) => {
    const releases: (() => void)[] = [];
    for (let index = 0; index < count; index++) {
      slots.acquire().then(
        (release) => releases.push(release),
        () => undefined, // refused when the test closes the slots
      );
    }
    return releases;
  };

  beforeEach(() => {
    now = 3_600_000 * 1_000;
    store = new MemoryUpstreamBudgetStore(TIMINGS, () => now);
  });

  afterEach(() => {
    for (const slots of opened.splice(0)) slots.close(new Error('test over'));
  });

  it('hands out at most the budget and the next slot as soon as one is released', async () => {
    const sut = replica('a', 2);
    const first = await sut.acquire();
    await sut.acquire();
    let third: (() => void) | undefined;
    void sut.acquire().then((release) => (third = release));

    await sleep(50);
    expect(third).toBeUndefined();
    expect(sut.inUse).toBe(2);

    first();
    first(); // a second release of the same slot changes nothing
    await sleep(20);
    expect(third).toBeDefined();
    expect(sut.inUse).toBe(2);
  });

  it('keeps to the local limit when it is lower than the budget', async () => {
    const sut = replica('a', 10, 3);
    const releases = acquireMany(sut, 5);
    await sleep(50);
    expect(releases).toHaveLength(3);
    expect(sut.inUse).toBe(3);
  });

  it('refuses waiting and later requests once closed, and a waiter whose signal aborts', async () => {
    const sut = replica('a', 1);
    await sut.acquire();
    const aborted = new AbortController();
    const leaving = sut.acquire(aborted.signal);
    aborted.abort(new Error('gave up'));
    await expect(leaving).rejects.toThrow('gave up');

    const waiting = sut.acquire();
    sut.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    await expect(sut.acquire()).rejects.toThrow('closed');
  });

  it('shares the budget between replicas: never above it, each up to its share while all want more', async () => {
    const [a, b, c] = [replica('a', 6), replica('b', 6), replica('c', 6)];
    const held = [acquireMany(a, 10), acquireMany(b, 10), acquireMany(c, 10)];
    await until('every replica to hold its share', () => held.every((releases) => releases.length === 2));
    await sleep(RETRY_MS);

    expect(held.map((releases) => releases.length)).toEqual([2, 2, 2]);
    expect(a.share).toBe(2);
  });

  it('lends a replica what the others leave unused, and takes it back for a newcomer', async () => {
    const a = replica('a', 6);
    const aHeld = acquireMany(a, 10);
    await until('a to borrow the whole budget', () => aHeld.length === 6);

    const b = replica('b', 6);
    const bHeld = acquireMany(b, 10);
    await sleep(RETRY_MS);
    expect(bHeld).toHaveLength(0); // the fleet is at its budget
    // a retires connections (as they age); it may not open them again while b is owed its share.
    for (const release of aHeld.splice(0, 3)) release();
    await until('b to hold its share', () => b.inUse === 3);
    await sleep(RETRY_MS);
    expect([a.inUse, b.inUse]).toEqual([3, 3]);
  });

  it("reclaims a dead replica's holdings once its heartbeat expires", async () => {
    const a = replica('a', 4);
    const b = replica('b', 4);
    acquireMany(a, 10);
    const bHeld = acquireMany(b, 10);
    await until('both to hold their shares', () => a.inUse === 2 && b.inUse === 2);

    // b dies holding its two: it never calls the store again. a heartbeats; the TTL passes.
    b.close(new Error('killed'));
    now += TIMINGS.heartbeatTtlMs / 2;
    await a.heartbeat();
    await sleep(RETRY_MS);
    expect(a.inUse).toBe(2);
    await a.heartbeat();
    now += TIMINGS.heartbeatTtlMs / 2 + 1;
    await until('a to take the whole budget', () => a.inUse === 4);
    expect(bHeld).toHaveLength(2);
  });

  it('gives the others its share at once when it leaves', async () => {
    const a = replica('a', 4);
    const b = replica('b', 4);
    acquireMany(a, 10);
    const bHeld = acquireMany(b, 10);
    await until('both to hold their shares', () => bHeld.length === 2 && a.inUse === 2);
    // As at shutdown: waiters refused, connections closed, then the replica leaves.
    b.close(new Error('shutting down'));
    for (const release of bHeld) release();
    await b.leave();
    await until('a to take the whole budget', () => a.inUse === 4);
  });

  it('keeps to its last known share once the store is down, opening nothing while it only fails, and to 1 if it never reached it', async () => {
    let reachable = true;
    const flaky: UpstreamBudgetStore = {
      kind: 'redis',
      requestConnection: (report) =>
        reachable ? store.requestConnection(report) : Promise.reject(new Error('ECONNREFUSED')),
      report: (report) => (reachable ? store.report(report) : Promise.reject(new Error('ECONNREFUSED'))),
      leave: (host, name) => store.leave(host, name),
      reservePermit: (host, interval, maxWait) => store.reservePermit(host, interval, maxWait),
      close: async () => undefined,
    };
    const health = new BudgetStoreHealth('redis', TIMINGS.heartbeatTtlMs, undefined, () => now);
    const a = replica('a', 6, 100, flaky, health);
    const b = replica('b', 6, 100, flaky, health);
    const aHeld = acquireMany(a, 10);
    acquireMany(b, 10);
    await until('both to hold their shares', () => a.inUse === 3 && b.inUse === 3);

    reachable = false;
    for (const release of aHeld.splice(0)) release();
    await sleep(RETRY_MS);
    expect(a.inUse).toBe(0); // failing, not yet down: a failure is no permission

    now += TIMINGS.heartbeatTtlMs;
    await until('a to open connections again', () => a.inUse === 3);
    await sleep(RETRY_MS);
    expect(a.inUse).toBe(3);

    const never = replica('c', 6, 100, flaky, health);
    acquireMany(never, 10);
    await until('c to open one connection', () => never.inUse === 1);
    await sleep(RETRY_MS);
    expect(never.inUse).toBe(1);
  });
});
