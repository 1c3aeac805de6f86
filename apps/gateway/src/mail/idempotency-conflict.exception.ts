import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The idempotency key was used before for a message with other content. */
export class IdempotencyConflictException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;
  declare readonly field: string;

  constructor() {
    super('already used for a message with different content; use a new key for a new message', {
      field: 'idempotency_key',
    });
  }
}
