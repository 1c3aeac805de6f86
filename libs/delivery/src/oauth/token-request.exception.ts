import { ErrorCode, GatewayException } from '@mailgateway/errors';

/**
 * No token could be obtained from the token endpoint (unreachable, refused, or an unreadable
 * answer). Drivers turn it into a retry: the message is fine, the credentials or the endpoint are
 * not. Never carries the client secret or a token.
 */
export class TokenRequestException extends GatewayException {
  readonly code = ErrorCode.Unavailable;

  constructor(
    reason: string,
    readonly statusCode?: number,
  ) {
    super(reason);
  }
}
