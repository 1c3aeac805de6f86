import type { Metadata } from '@grpc/grpc-js';
import { ExecutionContext, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { principalOf, type Principal } from '@mailgateway/auth';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { MemoryRateLimitStorage } from './memory-rate-limit.storage';
import { RATE_LIMIT_STORAGE, RateLimitStorage } from './rate-limit-storage.interface';
import { RedisRateLimitStorage } from './redis-rate-limit.storage';
import { RpcThrottlerGuard } from './rpc-throttler.guard';

const principalIn = (context: ExecutionContext) => principalOf(context.switchToRpc().getContext<Metadata>());

/** Chooses the counters: Redis when REDIS_URL is set (replicas share limits), else this process. */
@Module({
  providers: [
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [GATEWAY_CONFIG],
      useFactory: async ({ rateLimits }: GatewayConfig): Promise<RateLimitStorage> => {
        if (!rateLimits.redis) return new MemoryRateLimitStorage();
        const storage = new RedisRateLimitStorage(rateLimits.redis);
        await storage.connect();
        return storage;
      },
    },
  ],
  exports: [RATE_LIMIT_STORAGE],
})
class RateLimitStorageModule {}

/**
 * Message limits per source (its policy's, or RATE_LIMIT_SOURCE_MESSAGES) and for all sources
 * together, in fixed windows of RATE_LIMIT_WINDOW_MS. Controllers apply RpcThrottlerGuard after
 * AuthGuard.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStorageModule],
      inject: [GATEWAY_CONFIG, RATE_LIMIT_STORAGE],
      useFactory: ({ rateLimits }: GatewayConfig, storage: RateLimitStorage) => ({
        storage,
        // One bucket per limit and tracker, shared by every RPC that sends mail.
        generateKey: (_context, tracker, name) => `${name}:${tracker}`,
        throttlers: [
          {
            name: 'source',
            ttl: rateLimits.windowMs,
            limit: (context) => principalIn(context).policy.rateLimitMessages ?? rateLimits.sourceMessages,
            getTracker: (request) => (request.principal as Principal).source,
          },
          {
            name: 'global',
            ttl: rateLimits.windowMs,
            limit: rateLimits.globalMessages,
            getTracker: () => 'all',
          },
        ],
      }),
    }),
  ],
  providers: [RpcThrottlerGuard],
  exports: [RpcThrottlerGuard, ThrottlerModule],
})
export class ThrottlingModule {}
