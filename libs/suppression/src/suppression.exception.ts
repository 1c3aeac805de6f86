import { ErrorCode, GatewayException } from '@mailgateway/errors';

export enum SuppressionProblem {
  /** A page token that this list did not hand out. */
  InvalidPageToken = 'invalid-page-token',
  EntryNotFound = 'entry-not-found',
  /** The address is suppressed in that scope for a reason other than manual. */
  SuppressedForAnotherReason = 'suppressed-for-another-reason',
  /** A complaint or unsubscribe lifted without force and a reason. */
  ForceRequired = 'force-required',
}

const CODE: Record<SuppressionProblem, ErrorCode> = {
  [SuppressionProblem.InvalidPageToken]: ErrorCode.InvalidArgument,
  [SuppressionProblem.EntryNotFound]: ErrorCode.NotFound,
  [SuppressionProblem.SuppressedForAnotherReason]: ErrorCode.AlreadyExists,
  [SuppressionProblem.ForceRequired]: ErrorCode.FailedPrecondition,
};

/** A change or read of the suppression list that cannot be done as asked. */
export class SuppressionException extends GatewayException {
  readonly code: ErrorCode;

  constructor(
    readonly problem: SuppressionProblem,
    reason: string,
    field?: string,
  ) {
    super(reason, { field });
    this.code = CODE[problem];
  }
}
