import { Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { RateLimitRecord, RateLimitStorage, rateLimitRecord } from './rate-limit-storage.interface';
import { RateLimiterUnavailableException } from './rate-limiter-unavailable.exception';

// Check and add in one script, so replicas never race between reading a counter and raising it.
// A call that would go over the limit adds nothing. Returns {hits, ms left in the window, blocked}.
const INCREMENT_SCRIPT = `
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = redis.call('PTTL', KEYS[1])
if left < 0 then left = ttl end
if hits + cost > limit then
  return {hits, left, 1}
end
hits = redis.call('INCRBY', KEYS[1], cost)
if hits == cost then redis.call('PEXPIRE', KEYS[1], ttl) end
return {hits, left, 0}
`;

const FAILURE_LOG_INTERVAL_MS = 10_000;

export interface RedisRateLimitOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  /** "open": let calls through while Redis is unreachable; "closed": refuse them. */
  readonly onFailure: 'open' | 'closed';
}

type RedisWithIncrement = Redis & {
  rateLimitIncrement(
    key: string,
    cost: number,
    limit: number,
    ttl: number,
  ): Promise<[number, number, number]>;
};

/** Counters shared by every replica, in Redis; one round trip (EVALSHA) per limit per call. */
export class RedisRateLimitStorage implements RateLimitStorage, OnModuleDestroy {
  private readonly logger = new Logger('RateLimits');
  private readonly redis: RedisWithIncrement;
  private lastFailureLog = 0;

  constructor(private readonly options: RedisRateLimitOptions) {
    this.redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      // Fail fast while disconnected instead of queueing: the failure policy decides, now.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1_000, options.commandTimeoutMs),
      retryStrategy: (times) => Math.min(times * 100, 2_000),
      lazyConnect: true,
    }) as RedisWithIncrement;
    this.redis.defineCommand('rateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    this.redis.on('error', (error: Error) => this.logFailure(error));
  }

  /** Connects before the first call; an unreachable Redis at start is handled like one lost later. */
  async connect(): Promise<void> {
    await this.redis.connect().catch((error: Error) => this.logFailure(error));
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
    cost = 1,
  ): Promise<RateLimitRecord> {
    try {
      const [hits, left, blocked] = await this.redis.rateLimitIncrement(`rate:${key}`, cost, limit, ttl);
      return rateLimitRecord(hits, left, blocked === 1);
    } catch (error) {
      this.logFailure(error as Error);
      if (this.options.onFailure === 'closed') throw new RateLimiterUnavailableException();
      return rateLimitRecord(0, 0, false);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.redis.disconnect();
  }

  private logFailure(error: Error): void {
    const now = Date.now();
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLog = now;
    const policy = this.options.onFailure === 'open' ? 'calls pass unthrottled' : 'calls are refused';
    this.logger.warn(`Redis for rate limits is unreachable (${error.message}); ${policy} until it is back`);
  }
}
