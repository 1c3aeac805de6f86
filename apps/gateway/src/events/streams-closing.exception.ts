import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The process is shutting down: its streams end so their clients reconnect to another replica. */
export class StreamsClosingException extends GatewayException {
  readonly code = ErrorCode.Unavailable;

  constructor() {
    super('the gateway is shutting down; reconnect (to any replica) with the last cursor you received');
  }
}
