import { freePort, testRedisUrl, uniqueRedisPrefix } from '@mailgateway/testing';
import { RedisRateLimitOptions, RedisRateLimitStorage } from './redis-rate-limit.storage';
import { RateLimiterUnavailableException } from './rate-limiter-unavailable.exception';

// Runs against a real Redis (REDIS_URL, or the one the test setup starts), under a key prefix of its own.
describe(RedisRateLimitStorage.name, () => {
  const open: RedisRateLimitStorage[] = [];
  const connect = async (options: Partial<RedisRateLimitOptions> = {}) => {
    const storage = new RedisRateLimitStorage({
      url: testRedisUrl(),
      keyPrefix: uniqueRedisPrefix(),
      commandTimeoutMs: 1_000,
      onFailure: 'closed',
      ...options,
    });
    open.push(storage);
    await storage.connect();
    return storage;
  };
  afterAll(async () => {
    for (const storage of open) await storage.onModuleDestroy();
  });

  it('never lets concurrent callers on separate connections past the limit', async () => {
    const keyPrefix = uniqueRedisPrefix();
    const replicas = [await connect({ keyPrefix }), await connect({ keyPrefix })];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        replicas[index % 2].increment('source:billing', 60_000, 50, 60_000, 'source'),
      ),
    );
    expect(results.filter((result) => !result.isBlocked)).toHaveLength(50);
    expect(Math.max(...results.map((result) => result.totalHits))).toBe(50);
  });

  it('counts a call as its cost, refuses without counting, and says when the window has room', async () => {
    const sut = await connect();
    expect(await sut.increment('k', 60_000, 10, 60_000, 'source', 7)).toMatchObject({
      totalHits: 7,
      isBlocked: false,
    });
    const refused = await sut.increment('k', 60_000, 10, 60_000, 'source', 4);
    expect(refused).toMatchObject({ totalHits: 7, isBlocked: true });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(await sut.increment('k', 60_000, 10, 60_000, 'source', 3)).toMatchObject({
      totalHits: 10,
      isBlocked: false,
    });
  });

  it('starts a new window when the old one expires', async () => {
    const sut = await connect();
    // A window long enough that a loaded machine still makes the second call inside it.
    await sut.increment('short', 1000, 1, 1000, 'source');
    expect((await sut.increment('short', 1000, 1, 1000, 'source')).isBlocked).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect((await sut.increment('short', 1000, 1, 1000, 'source')).isBlocked).toBe(false);
  });

  it('fails closed or open on an unreachable Redis, as configured', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const closed = await connect({ url, onFailure: 'closed', commandTimeoutMs: 100 });
    await expect(closed.increment('k', 1_000, 1, 1_000, 'source')).rejects.toBeInstanceOf(
      RateLimiterUnavailableException,
    );
    const failOpen = await connect({ url, onFailure: 'open', commandTimeoutMs: 100 });
    for (let i = 0; i < 3; i++) {
      expect((await failOpen.increment('k', 1_000, 1, 1_000, 'source')).isBlocked).toBe(false);
    }
  });
});
