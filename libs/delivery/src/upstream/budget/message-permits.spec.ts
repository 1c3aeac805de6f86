import { UpstreamUnavailableException } from '../upstream-unavailable.exception';
import { BudgetStoreHealth } from './budget-store-health';
import { MemoryUpstreamBudgetStore } from './memory-upstream-budget.store';
import { MessagePermits } from './message-permits';
import type { UpstreamBudgetStore } from './upstream-budget-store.interface';

const TIMINGS = { heartbeatTtlMs: 10_000, rotationMs: 60_000, wantingMs: 2_000 };

describe(MessagePermits.name, () => {
  const permits = (
    store: UpstreamBudgetStore,
    messagesPerSecond: number | undefined,
    maxWaitMs = 5_000,
    health = new BudgetStoreHealth(store.kind, TIMINGS.heartbeatTtlMs),
  ) =>
    new MessagePermits({
      host: 'api.provider.test',
      messagesPerSecond,
      maxWaitMs,
      store,
      health,
      replicas: () => 2,
      worstCaseReplicas: 10,
    });

  it('spaces the messages of every replica one interval apart on the schedule they share', async () => {
    let now = 1_000_000;
    const store = new MemoryUpstreamBudgetStore(TIMINGS, () => now);
    const reserved = [];
    for (let index = 0; index < 4; index++) {
      reserved.push(await store.reservePermit('api.provider.test', 250_000, 5_000));
    }
    expect(reserved).toEqual([{ waitMs: 0 }, { waitMs: 250 }, { waitMs: 500 }, { waitMs: 750 }]);
    now += 2_000; // idle time is not saved up into a burst
    expect(await store.reservePermit('api.provider.test', 250_000, 5_000)).toEqual({ waitMs: 0 });
    expect(await store.reservePermit('api.provider.test', 250_000, 5_000)).toEqual({ waitMs: 250 });
  });

  it('refuses, without taking it, a slot further away than the longest wait', async () => {
    const now = 1_000_000;
    const store = new MemoryUpstreamBudgetStore(TIMINGS, () => now);
    const sut = permits(store, 1, 500);
    await sut.take();
    const refused = sut.take();
    await expect(refused).rejects.toBeInstanceOf(UpstreamUnavailableException);
    await expect(refused).rejects.toMatchObject({ retryAfterMs: 1_000 });
    expect(await store.reservePermit('api.provider.test', 1_000_000, 5_000)).toEqual({ waitMs: 1_000 });
  });

  it('lets every message through at once when the host has no rate', async () => {
    const store = new MemoryUpstreamBudgetStore(TIMINGS);
    const sut = permits(store, undefined);
    await Promise.all(Array.from({ length: 100 }, () => sut.take()));
    expect(await store.reservePermit('api.provider.test', 1_000_000, 5_000)).toEqual({ waitMs: 0 });
  });

  it('waits for a store that fails until the longest wait, then answers "unavailable"', async () => {
    const refused = () => Promise.reject(new Error('ECONNREFUSED'));
    const failing: UpstreamBudgetStore = {
      kind: 'redis',
      requestConnection: refused,
      report: refused,
      leave: refused,
      reservePermit: refused,
      close: async () => undefined,
    };
    await expect(permits(failing, 100, 200).take()).rejects.toBeInstanceOf(UpstreamUnavailableException);
  });

  it('keeps to its part of the rate (rate ÷ replicas last seen) once the store is down', async () => {
    const refused = () => Promise.reject(new Error('ECONNREFUSED'));
    const unreachable: UpstreamBudgetStore = {
      kind: 'redis',
      requestConnection: refused,
      report: refused,
      leave: refused,
      reservePermit: refused,
      close: async () => undefined,
    };
    // 100/s for the fleet, two replicas: 50/s here, a slot every 20 ms; the third is 40 ms away.
    let now = 0;
    const health = new BudgetStoreHealth('redis', TIMINGS.heartbeatTtlMs, undefined, () => now);
    health.failed(new Error('ECONNREFUSED'));
    now += TIMINGS.heartbeatTtlMs;
    const sut = permits(unreachable, 100, 30, health);
    const [first, second, third] = await Promise.allSettled([sut.take(), sut.take(), sut.take()]);
    expect([first.status, second.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(third.status).toBe('rejected');
    // 40 ms less the few microseconds between the three reservations: beyond the 30 ms wait.
    const { retryAfterMs } = (third as PromiseRejectedResult).reason as { retryAfterMs: number };
    expect(retryAfterMs).toBeGreaterThan(30);
    expect(retryAfterMs).toBeLessThanOrEqual(40);
  });
});
