import { ErrorCode, GatewayException } from '@mailgateway/errors';

/**
 * The relay refused the gateway's credentials (AUTH answered 535, 534 or 530, or no XOAUTH2 token
 * could be had). The message is not at fault, and another address of the relay would refuse the
 * same credentials. Never carries a password or a token.
 */
export class SmtpAuthenticationException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;
}
