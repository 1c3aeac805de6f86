import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** No address of the upstream took the request: it was certainly not sent. Safe to retry. */
export class UpstreamUnavailableException extends GatewayException {
  readonly code = ErrorCode.Unavailable;
}
