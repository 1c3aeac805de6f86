import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** Counters are unreachable and RATE_LIMIT_ON_REDIS_FAILURE is "closed". */
export class RateLimiterUnavailableException extends GatewayException {
  readonly code = ErrorCode.Unavailable;

  constructor() {
    super('rate limiter unavailable; retry with backoff');
  }
}
