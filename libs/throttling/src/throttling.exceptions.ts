/** The caller went over a message limit; `retryAfterMs` is when its window has room again. */
export class RateLimitExceededException extends Error {
  constructor(
    readonly limitName: string,
    readonly limit: number,
    readonly windowMs: number,
    readonly retryAfterMs: number,
  ) {
    super(
      `rate limit "${limitName}" exceeded: ${limit} messages per ${windowMs / 1000} s; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
    );
    this.name = RateLimitExceededException.name;
  }
}

/** Counters are unreachable and RATE_LIMIT_ON_REDIS_FAILURE is "closed" (maps to UNAVAILABLE). */
export class RateLimiterUnavailableException extends Error {
  constructor() {
    super('rate limiter unavailable; retry with backoff');
    this.name = RateLimiterUnavailableException.name;
  }
}
