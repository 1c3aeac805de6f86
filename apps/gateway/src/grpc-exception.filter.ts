import { randomUUID } from 'node:crypto';
import { ArgumentsHost, Catch, Logger, RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { Metadata, status } from '@grpc/grpc-js';
import {
  AuthenticationException,
  CredentialException,
  CredentialProblem,
  findPrincipal,
  PermissionDeniedException,
} from '@mailgateway/auth';
import { encodeRetryInfoStatus, STATUS_DETAILS_TRAILER } from '@mailgateway/contracts';
import { CallTelemetry, GatewayMetrics, GrpcCall } from '@mailgateway/observability';
import { OutboxOverloadedException } from '@mailgateway/outbox';
import { RateLimiterUnavailableException, RateLimitExceededException } from '@mailgateway/throttling';
import { ValidationException } from '@mailgateway/validation';
import { Observable, throwError } from 'rxjs';
import { IdempotencyConflictException, MessageNotFoundException } from './mail/mail.exceptions';

interface GrpcError {
  code: status;
  message: string;
  /** Sent as trailers with the status. */
  metadata?: Metadata;
}

type MappedError = GrpcError & { errorId?: string };

const CREDENTIAL_STATUS: Record<CredentialProblem, status> = {
  [CredentialProblem.SourceNotFound]: status.NOT_FOUND,
  [CredentialProblem.ApiKeyNotFound]: status.NOT_FOUND,
  [CredentialProblem.SourceExists]: status.ALREADY_EXISTS,
  [CredentialProblem.CertificateIdentityTaken]: status.ALREADY_EXISTS,
};

/** Database faults a caller should retry: the database is down, restarting, or out of space. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006', // connection failures
  '55000', // database not accepting connections (ALLOW_CONNECTIONS false, during maintenance)
  '53100', // disk_full
  '53300', // too_many_connections
  'SQLITE_FULL',
  'SQLITE_BUSY',
  'SQLITE_IOERR',
]);

/**
 * The one place errors become gRPC statuses. Anything unexpected is logged with an id and reaches
 * the caller as INTERNAL with that id, never as UNKNOWN and never with its inner details. It also
 * closes the call's telemetry, for calls refused before the handler (guards) as well.
 */
@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter {
  private readonly logger = new Logger('GrpcExceptionFilter');

  constructor(
    private readonly telemetry: CallTelemetry,
    private readonly metrics: GatewayMetrics,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    const { errorId, ...error } = this.toGrpcError(exception);
    if (host.getType() === 'rpc') {
      const source = findPrincipal(host.getArgByIndex<Metadata>(1))?.source ?? 'unauthenticated';
      if (exception instanceof RateLimitExceededException) {
        this.metrics.recordThrottledCall(source, exception.limitName);
      }
      this.telemetry.end(host.getArgByIndex<GrpcCall>(2), error.code, { source, errorId });
    }
    return throwError(() => error);
  }

  private toGrpcError(exception: unknown): MappedError {
    if (exception instanceof ValidationException) {
      return { code: status.INVALID_ARGUMENT, message: exception.message };
    }
    if (exception instanceof IdempotencyConflictException) {
      return { code: status.INVALID_ARGUMENT, message: exception.message };
    }
    if (exception instanceof MessageNotFoundException) {
      return { code: status.NOT_FOUND, message: exception.message };
    }
    if (exception instanceof AuthenticationException) {
      return { code: status.UNAUTHENTICATED, message: exception.message };
    }
    if (exception instanceof PermissionDeniedException) {
      return { code: status.PERMISSION_DENIED, message: exception.message };
    }
    if (exception instanceof CredentialException) {
      return { code: CREDENTIAL_STATUS[exception.problem], message: exception.message };
    }
    if (exception instanceof RateLimitExceededException)
      return retryLater(exception.message, exception.retryAfterMs);
    // The outbox's own admission control: too many messages wait for a commit in this process.
    if (exception instanceof OutboxOverloadedException)
      return retryLater(exception.message, exception.retryAfterMs);
    if (exception instanceof RateLimiterUnavailableException) {
      return { code: status.UNAVAILABLE, message: exception.message };
    }
    if (exception instanceof RpcException) {
      const error = exception.getError();
      if (typeof error === 'object' && error !== null && 'code' in error) return error as GrpcError;
    }
    if (isUnavailable(exception)) {
      this.logger.warn(`Storage unavailable: ${describe(exception)}`);
      return { code: status.UNAVAILABLE, message: 'storage is unavailable; retry with backoff' };
    }
    const errorId = randomUUID();
    this.logger.error(`Internal error ${errorId}: ${describe(exception)}`, (exception as Error)?.stack);
    return { code: status.INTERNAL, message: `internal error (id ${errorId})`, errorId };
  }
}

/**
 * RESOURCE_EXHAUSTED with when to come back, twice: a google.rpc.RetryInfo in the standard
 * status-details trailer for gRPC libraries that read it, and `retry-after` (whole seconds, as in
 * HTTP) for everyone else.
 */
function retryLater(message: string, retryAfterMs: number): GrpcError {
  const metadata = new Metadata();
  metadata.set('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  metadata.set(
    STATUS_DETAILS_TRAILER,
    encodeRetryInfoStatus(status.RESOURCE_EXHAUSTED, message, retryAfterMs),
  );
  return { code: status.RESOURCE_EXHAUSTED, message, metadata };
}

function isUnavailable(exception: unknown): boolean {
  for (
    let error = exception as { code?: unknown; driverError?: unknown; cause?: unknown } | undefined;
    error;
  ) {
    if (typeof error.code === 'string' && UNAVAILABLE_CODES.has(error.code)) return true;
    const message = (error as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      /timeout exceeded when trying to connect|Connection terminated/i.test(message)
    ) {
      return true;
    }
    error = (error.driverError ?? error.cause) as typeof error;
  }
  return false;
}

function describe(exception: unknown): string {
  return exception instanceof Error ? `${exception.name}: ${exception.message}` : String(exception);
}
