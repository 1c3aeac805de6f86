/**
 * What kind of fault an error is, in the canonical codes of Google's error model (the same ones
 * gRPC uses). Libraries pick one for each of their errors; only the edge turns it into a status.
 */
export enum ErrorCode {
  /** The request itself is wrong; sending it again unchanged fails again. */
  InvalidArgument = 'invalid-argument',
  NotFound = 'not-found',
  AlreadyExists = 'already-exists',
  /** The caller could not be identified. */
  Unauthenticated = 'unauthenticated',
  /** The caller is known but may not do this. */
  PermissionDenied = 'permission-denied',
  /** Over a limit for now; `retryAfterMs` says when to come back. */
  ResourceExhausted = 'resource-exhausted',
  /** The request asks for something past what exists or is still kept (e.g. a purged position). */
  OutOfRange = 'out-of-range',
  /** The system is not in a state that allows this (e.g. a setting is missing or wrong). */
  FailedPrecondition = 'failed-precondition',
  /** A dependency is down or unreachable; retrying with backoff is right and nothing was changed. */
  Unavailable = 'unavailable',
}
