import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** A cursor this gateway did not issue, issued to another source, or sent with another filter. */
export class InvalidCursorException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;

  constructor(reason: string) {
    super(reason, { field: 'cursor' });
  }
}
