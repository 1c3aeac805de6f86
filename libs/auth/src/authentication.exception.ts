import { ErrorCode, GatewayException } from '@mailgateway/errors';

export enum AuthenticationFailure {
  Missing = 'missing',
  Malformed = 'malformed',
  Unknown = 'unknown',
  Revoked = 'revoked',
  Expired = 'expired',
  UnknownCertificate = 'unknown-certificate',
}

const AUTHENTICATION_MESSAGES: Record<AuthenticationFailure, string> = {
  [AuthenticationFailure.Missing]:
    'missing credentials: send "authorization: Bearer <API key>" metadata or a client certificate',
  [AuthenticationFailure.Malformed]:
    'malformed credentials: expected "authorization: Bearer mgw_<prefix>_<secret>"',
  [AuthenticationFailure.Unknown]: 'unknown API key',
  [AuthenticationFailure.Revoked]: 'API key revoked',
  [AuthenticationFailure.Expired]: 'API key expired',
  [AuthenticationFailure.UnknownCertificate]: 'the client certificate is not the identity of any source',
};

/** The caller could not be identified. */
export class AuthenticationException extends GatewayException {
  readonly code = ErrorCode.Unauthenticated;

  constructor(readonly failure: AuthenticationFailure) {
    super(AUTHENTICATION_MESSAGES[failure]);
  }
}
