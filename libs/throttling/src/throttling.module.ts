import type { Metadata } from '@grpc/grpc-js';
import { ExecutionContext, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { principalOf, type Principal } from '@mailgateway/auth';
import { MemoryRateLimitStorage } from './memory-rate-limit.storage';
import { RATE_LIMIT_POLICIES } from './rate-limit-policies';
import { RATE_LIMIT_STORAGE, RateLimitStorage } from './rate-limit-storage.interface';
import { RedisRateLimitStorage } from './redis-rate-limit.storage';
import { RpcThrottlerGuard } from './rpc-throttler.guard';
import { ThrottlingConfig, throttlingConfig } from './throttling.settings';

const principalIn = (context: ExecutionContext) => principalOf(context.switchToRpc().getContext<Metadata>());

/** Chooses the counters: Redis when REDIS_URL is set (replicas share limits), else this process. */
@Module({
  providers: [
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [throttlingConfig.token],
      useFactory: async ({ redis }: ThrottlingConfig): Promise<RateLimitStorage> => {
        if (!redis) return new MemoryRateLimitStorage();
        const storage = new RedisRateLimitStorage(redis);
        await storage.connect();
        return storage;
      },
    },
  ],
  exports: [RATE_LIMIT_STORAGE],
})
class RateLimitStorageModule {}

/**
 * Message limits (RATE_LIMIT_POLICIES: per source, and for all sources together) in fixed windows
 * of RATE_LIMIT_WINDOW_MS. Controllers apply RpcThrottlerGuard after AuthGuard.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStorageModule],
      inject: [throttlingConfig.token, RATE_LIMIT_STORAGE],
      useFactory: ({ windowMs, limits }: ThrottlingConfig, storage: RateLimitStorage) => ({
        storage,
        // One bucket per limit and tracker, shared by every RPC that sends mail.
        generateKey: (_context, tracker, name) => `${name}:${tracker}`,
        throttlers: RATE_LIMIT_POLICIES.map((policy) => ({
          name: policy.name,
          ttl: windowMs,
          limit: (context: ExecutionContext) => policy.limit(principalIn(context), limits[policy.name]),
          getTracker: (request: Record<string, unknown>) => policy.tracker(request.principal as Principal),
        })),
      }),
    }),
  ],
  providers: [RpcThrottlerGuard],
  exports: [RpcThrottlerGuard, ThrottlerModule],
})
export class ThrottlingModule {}
