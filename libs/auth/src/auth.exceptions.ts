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

/** The caller could not be identified (maps to UNAUTHENTICATED). */
export class AuthenticationException extends Error {
  constructor(readonly failure: AuthenticationFailure) {
    super(AUTHENTICATION_MESSAGES[failure]);
    this.name = AuthenticationException.name;
  }
}

/** The caller is known but may not do this (maps to PERMISSION_DENIED). */
export class PermissionDeniedException extends Error {
  constructor(message: string) {
    super(message);
    this.name = PermissionDeniedException.name;
  }
}

export enum CredentialProblem {
  SourceNotFound = 'source-not-found',
  SourceExists = 'source-exists',
  ApiKeyNotFound = 'api-key-not-found',
  CertificateIdentityTaken = 'certificate-identity-taken',
}

/** An admin operation on sources and keys that cannot be done as asked. */
export class CredentialException extends Error {
  constructor(
    readonly problem: CredentialProblem,
    message: string,
  ) {
    super(message);
    this.name = CredentialException.name;
  }
}
