import { Metadata, status } from '@grpc/grpc-js';
import { encodeRetryInfoStatus, STATUS_DETAILS_TRAILER } from '@mailgateway/contracts';
import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The one mapping from what kind of fault an error is to the status callers receive. */
const GRPC_STATUS: Record<ErrorCode, status> = {
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: status.PERMISSION_DENIED,
  [ErrorCode.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.OutOfRange]: status.OUT_OF_RANGE,
  [ErrorCode.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
};

export interface GrpcError {
  readonly code: status;
  readonly message: string;
  /** Sent as trailers with the status. */
  readonly metadata?: Metadata;
}

/** The status and message a caller receives for `exception`, with when to retry where it says. */
export function grpcErrorOf(exception: GatewayException): GrpcError {
  const code = GRPC_STATUS[exception.code];
  if (exception.retryAfterMs === undefined) return { code, message: exception.message };
  return {
    code,
    message: exception.message,
    metadata: retryMetadata(code, exception.message, exception.retryAfterMs),
  };
}

/** One item of a batch refused for its own fault: the same status name, the field (if any) and the reason. */
export function batchRejectionOf(exception: GatewayException) {
  return {
    code: status[GRPC_STATUS[exception.code]],
    field: exception.field ?? '',
    reason: exception.reason,
  };
}

/**
 * When to come back, twice: a google.rpc.RetryInfo in the standard status-details trailer for
 * gRPC libraries that read it, and `retry-after` (whole seconds, as in HTTP) for everyone else.
 */
function retryMetadata(code: status, message: string, retryAfterMs: number): Metadata {
  const metadata = new Metadata();
  metadata.set('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  metadata.set(STATUS_DETAILS_TRAILER, encodeRetryInfoStatus(code, message, retryAfterMs));
  return metadata;
}
