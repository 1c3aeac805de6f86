import { randomUUID } from 'node:crypto';
import { ArgumentsHost, Catch, Logger, RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { Metadata, status } from '@grpc/grpc-js';
import { encodeRetryInfoStatus, STATUS_DETAILS_KEY } from '@mailgateway/client';
import type { GatewayConfig } from '@mailgateway/config';
import { CallTelemetry, GrpcCall } from '@mailgateway/observability';
import { OutboxOverloadedException } from '@mailgateway/outbox';
import { ValidationException } from '@mailgateway/validation';
import { Observable, throwError } from 'rxjs';
import { IdempotencyConflictException, MessageNotFoundException } from './mail/mail.exceptions';

interface GrpcError {
  code: status;
  message: string;
  /** Trailers: a retry delay (google.rpc.RetryInfo) for errors the caller should retry later. */
  metadata?: Metadata;
}

type MappedError = GrpcError & { errorId?: string };

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
    private readonly config: Pick<GatewayConfig, 'defaultSource'>,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    const { errorId, ...error } = this.toGrpcError(exception);
    const call = host.getType() === 'rpc' ? host.getArgByIndex<GrpcCall>(2) : undefined;
    this.telemetry.end(call, error.code, { source: this.config.defaultSource, errorId });
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
    if (exception instanceof OutboxOverloadedException) {
      return retryLater(status.RESOURCE_EXHAUSTED, exception.message, exception.retryAfterMs);
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

function retryLater(code: status, message: string, retryAfterMs: number): GrpcError {
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeRetryInfoStatus(code, message, retryAfterMs));
  metadata.set('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  return { code, message, metadata };
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
