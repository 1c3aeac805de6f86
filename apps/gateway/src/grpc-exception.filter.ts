import { randomUUID } from 'node:crypto';
import { ArgumentsHost, Catch, Logger, RpcExceptionFilter } from '@nestjs/common';
import { Metadata, status } from '@grpc/grpc-js';
import { findPrincipal } from '@mailgateway/auth';
import { ErrorCode, GatewayException } from '@mailgateway/errors';
import { CallTelemetry, GrpcCall } from '@mailgateway/observability';
import { Observable, throwError } from 'rxjs';
import { GrpcError, grpcErrorOf } from './grpc-status';

/**
 * The one place errors become gRPC statuses. A GatewayException is mapped by its code; anything
 * else is a bug, logged with an id and answered INTERNAL with that id, never UNKNOWN and never
 * with its inner details. It also closes the call's telemetry, for calls refused before the
 * handler (guards) as well.
 */
@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter {
  private readonly logger = new Logger('GrpcExceptionFilter');

  constructor(private readonly telemetry: CallTelemetry) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    const { errorId, ...error } = this.toGrpcError(exception);
    if (host.getType() === 'rpc') {
      const metadata = host.getArgByIndex<Metadata>(1);
      const source = findPrincipal(metadata)?.source ?? 'unauthenticated';
      this.telemetry.end(host.getArgByIndex<GrpcCall>(2), metadata, error.code, { source, errorId });
    }
    return throwError(() => error);
  }

  private toGrpcError(exception: unknown): GrpcError & { errorId?: string } {
    if (exception instanceof GatewayException) {
      // A dependency is down: the operator needs the cause, the caller only that it may retry.
      if (exception.code === ErrorCode.Unavailable && exception.cause !== undefined) {
        this.logger.warn(`${exception.message}: ${describe(exception.cause)}`);
      }
      return grpcErrorOf(exception);
    }
    const errorId = randomUUID();
    this.logger.error(`Internal error ${errorId}: ${describe(exception)}`, (exception as Error)?.stack);
    return { code: status.INTERNAL, message: `internal error (id ${errorId})`, errorId };
  }
}

function describe(exception: unknown): string {
  return exception instanceof Error ? `${exception.name}: ${exception.message}` : String(exception);
}
