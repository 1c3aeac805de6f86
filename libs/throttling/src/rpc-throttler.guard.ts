import type { Metadata } from '@grpc/grpc-js';
import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerModuleOptions,
  ThrottlerRequest,
  ThrottlerStorage,
} from '@nestjs/throttler';
import { principalOf } from '@mailgateway/auth';
import { GatewayMetrics } from '@mailgateway/observability';
import { BatchOverLimitException } from './batch-over-limit.exception';
import { RateLimitExceededException } from './rate-limit-exceeded.exception';
import { RateLimitStorage } from './rate-limit-storage.interface';
import { THROTTLE_COST, ThrottleCostFunction } from './throttle-cost.decorator';

/**
 * @nestjs/throttler made RPC-aware: the tracker is the authenticated source (under gRPC `req.ip`
 * is undefined, so the stock guard would put every caller in one bucket), a call costs as many
 * hits as it carries messages, and going over throws a typed exception with the retry delay.
 * Runs after AuthGuard; counts refused calls by source and limit.
 */
@Injectable()
export class RpcThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly metrics: GatewayMetrics,
  ) {
    super(options, storage, reflector);
  }

  protected override getRequestResponse(context: ExecutionContext) {
    const rpc = context.switchToRpc();
    // No HTTP request or response: the principal stands in for the request, headers go nowhere.
    return { req: { principal: principalOf(rpc.getContext<Metadata>()), data: rpc.getData() }, res: {} };
  }

  protected override async handleRequest({
    context,
    limit,
    ttl,
    throttler,
    blockDuration,
    getTracker,
    generateKey,
  }: ThrottlerRequest): Promise<boolean> {
    const { req } = this.getRequestResponse(context);
    const costOf = this.reflector.getAllAndOverride<ThrottleCostFunction | undefined>(THROTTLE_COST, [
      context.getHandler(),
      context.getClass(),
    ]);
    const cost = costOf ? costOf(req.data as never) : 1;
    if (cost <= 0) return true;
    const name = throttler.name ?? 'default';
    if (cost > limit) throw new BatchOverLimitException(cost, name, limit);
    const key = generateKey(context, await getTracker(req, context), name);
    const storage = this.storageService as RateLimitStorage;
    const record = await storage.increment(key, ttl, limit, blockDuration, name, cost);
    if (record.isBlocked) {
      this.metrics.recordThrottledCall(req.principal.source, name);
      throw new RateLimitExceededException(name, limit, ttl, record.retryAfterMs);
    }
    return true;
  }
}
