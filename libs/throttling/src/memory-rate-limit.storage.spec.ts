import { MemoryRateLimitStorage } from './memory-rate-limit.storage';

describe(MemoryRateLimitStorage.name, () => {
  let now: number;
  let sut: MemoryRateLimitStorage;

  beforeEach(() => {
    now = 1_000_000;
    sut = new MemoryRateLimitStorage(() => now);
  });
  afterEach(() => sut.onModuleDestroy());

  const hit = (key: string, cost = 1, limit = 10) =>
    sut.increment(key, 60_000, limit, 60_000, 'source', cost);

  it('counts hits per key within a window and refuses the one that would go over', async () => {
    for (let i = 1; i <= 10; i++) expect(await hit('a')).toMatchObject({ totalHits: i, isBlocked: false });
    now += 15_000;
    expect(await hit('a')).toEqual({
      totalHits: 10,
      timeToExpire: 45,
      isBlocked: true,
      timeToBlockExpire: 45,
      retryAfterMs: 45_000,
    });
    expect(await hit('b')).toMatchObject({ totalHits: 1, isBlocked: false });
  });

  it('counts a batch as its cost, and a refused batch takes nothing', async () => {
    expect(await hit('a', 7)).toMatchObject({ totalHits: 7, isBlocked: false });
    expect(await hit('a', 4)).toMatchObject({ totalHits: 7, isBlocked: true });
    expect(await hit('a', 3)).toMatchObject({ totalHits: 10, isBlocked: false });
  });

  it('opens a new window when the old one ends, and sweeps ended windows', async () => {
    await hit('a', 10);
    now += 60_000;
    expect(await hit('a')).toMatchObject({ totalHits: 1, isBlocked: false });
    await hit('b');
    now += 60_000;
    sut.sweep(now);
    expect(sut.size).toBe(0);
  });
});
