import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The cursor points at events the gateway no longer keeps: the reader must start over. */
export class FeedPositionExpiredException extends GatewayException {
  readonly code = ErrorCode.OutOfRange;

  constructor() {
    super(
      'the events after this cursor are no longer kept; read again from an empty cursor (the oldest event kept)',
      { field: 'cursor' },
    );
  }
}
