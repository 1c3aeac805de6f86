export * from './throttling.module';
export * from './rpc-throttler.guard';
export * from './throttle-cost.decorator';
export * from './throttling.exceptions';
export * from './rate-limit-storage.interface';
export { MemoryRateLimitStorage } from './memory-rate-limit.storage';
export { RedisRateLimitStorage } from './redis-rate-limit.storage';
export type { RedisRateLimitOptions } from './redis-rate-limit.storage';
