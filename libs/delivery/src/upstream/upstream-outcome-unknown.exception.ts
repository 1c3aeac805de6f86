import { ErrorCode, GatewayException } from '@mailgateway/errors';

/**
 * The connection failed after the request was sent: the upstream may have acted on it. Sending it
 * again may duplicate the message unless the provider deduplicates on an idempotency key.
 */
export class UpstreamOutcomeUnknownException extends GatewayException {
  readonly code = ErrorCode.Unavailable;
}
