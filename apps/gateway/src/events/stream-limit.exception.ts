import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** Too many streams open: for the source, or on this process. */
export class StreamLimitException extends GatewayException {
  readonly code = ErrorCode.ResourceExhausted;

  constructor(reason: string, retryAfterMs: number) {
    super(reason, { retryAfterMs });
  }
}
