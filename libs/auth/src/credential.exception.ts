import { ErrorCode, GatewayException } from '@mailgateway/errors';

export enum CredentialProblem {
  /** A field of the request is not a valid source or key definition. */
  InvalidField = 'invalid-field',
  SourceNotFound = 'source-not-found',
  SourceExists = 'source-exists',
  ApiKeyNotFound = 'api-key-not-found',
  CertificateIdentityTaken = 'certificate-identity-taken',
}

const CODE: Record<CredentialProblem, ErrorCode> = {
  [CredentialProblem.InvalidField]: ErrorCode.InvalidArgument,
  [CredentialProblem.SourceNotFound]: ErrorCode.NotFound,
  [CredentialProblem.ApiKeyNotFound]: ErrorCode.NotFound,
  [CredentialProblem.SourceExists]: ErrorCode.AlreadyExists,
  [CredentialProblem.CertificateIdentityTaken]: ErrorCode.AlreadyExists,
};

/** An admin operation on sources and keys that cannot be done as asked. */
export class CredentialException extends GatewayException {
  readonly code: ErrorCode;

  constructor(
    readonly problem: CredentialProblem,
    reason: string,
    field?: string,
  ) {
    super(reason, { field });
    this.code = CODE[problem];
  }

  /** A field of an admin request that is not valid, e.g. a source name with capitals. */
  static invalidField(field: string, reason: string): CredentialException {
    return new CredentialException(CredentialProblem.InvalidField, reason, field);
  }
}
