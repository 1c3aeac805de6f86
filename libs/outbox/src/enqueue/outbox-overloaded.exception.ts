import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** More messages wait for an outbox commit than OUTBOX_MAX_QUEUED_MESSAGES allows: try again shortly. */
export class OutboxOverloadedException extends GatewayException {
  readonly code = ErrorCode.ResourceExhausted;

  constructor(
    readonly queued: number,
    retryAfterMs: number,
  ) {
    super(
      `the gateway is overloaded (${queued} messages wait for a commit); retry after ${retryAfterMs} ms`,
      {
        retryAfterMs,
      },
    );
  }
}
