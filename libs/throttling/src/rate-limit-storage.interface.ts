import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';

export interface RateLimitRecord extends ThrottlerStorageRecord {
  /** When the window has room again, in milliseconds (the throttler's own fields are seconds). */
  readonly retryAfterMs: number;
}

/**
 * A fixed-window counter that adds `cost` hits at once (a batch counts as its messages). A call
 * that would go over the limit is refused and adds nothing, so a refused batch does not burn the
 * rest of the window. Every implementation must be O(1) and atomic per call.
 */
export interface RateLimitStorage extends ThrottlerStorage {
  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
    cost?: number,
  ): Promise<RateLimitRecord>;
}

export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');

export function rateLimitRecord(totalHits: number, msLeft: number, isBlocked: boolean): RateLimitRecord {
  const seconds = Math.ceil(msLeft / 1000);
  return {
    totalHits,
    timeToExpire: seconds,
    isBlocked,
    timeToBlockExpire: isBlocked ? seconds : 0,
    retryAfterMs: isBlocked ? msLeft : 0,
  };
}
