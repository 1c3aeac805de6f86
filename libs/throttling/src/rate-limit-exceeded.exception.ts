import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The caller went over a message limit; `retryAfterMs` is when its window has room again. */
export class RateLimitExceededException extends GatewayException {
  readonly code = ErrorCode.ResourceExhausted;
  declare readonly retryAfterMs: number;

  constructor(
    readonly limitName: string,
    readonly limit: number,
    readonly windowMs: number,
    retryAfterMs: number,
  ) {
    super(
      `rate limit "${limitName}" exceeded: ${limit} messages per ${windowMs / 1000} s; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      { retryAfterMs },
    );
  }
}
