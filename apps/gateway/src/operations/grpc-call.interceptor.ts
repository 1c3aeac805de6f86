import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Metadata, status } from '@grpc/grpc-js';
import { findPrincipal } from '@mailgateway/auth';
import { CallSummary, CallTelemetry, GrpcCall } from '@mailgateway/observability';
import { finalize, Observable, tap } from 'rxjs';

interface AnyResponse {
  messageId?: string;
  replayed?: boolean;
  results?: { accepted?: { messageId: string; replayed: boolean } }[];
}

/**
 * Closes each call's telemetry (log line, metrics, span) on success; the server hook opened it
 * (grpcServerOptions), and failures are closed by the exception filter.
 */
@Injectable()
export class GrpcCallInterceptor implements NestInterceptor {
  constructor(private readonly telemetry: CallTelemetry) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const call = context.getArgByIndex<GrpcCall>(2);
    const metadata = context.switchToRpc().getContext<Metadata>();
    if (isServerStream(call)) {
      // A stream answers many items: the call ends when it completes, or CANCELLED when the client
      // leaves (errors are closed by the exception filter first).
      const end = (code: status) => () =>
        this.telemetry.end(call, metadata, code, {
          source: findPrincipal(metadata)?.source ?? 'unauthenticated',
        });
      return next.handle().pipe(tap({ complete: end(status.OK) }), finalize(end(status.CANCELLED)));
    }
    return next
      .handle()
      .pipe(
        tap((response) =>
          this.telemetry.end(call, metadata, status.OK, this.summarize(response as AnyResponse, metadata)),
        ),
      );
  }

  private summarize(response: AnyResponse | undefined, metadata: Metadata): CallSummary {
    const source = findPrincipal(metadata)?.source ?? 'unauthenticated';
    if (response?.results) {
      const accepted = response.results.flatMap((result) => (result.accepted ? [result.accepted] : []));
      return {
        source,
        messageIds: accepted.map(({ messageId }) => messageId),
        accepted: accepted.filter(({ replayed }) => !replayed).length,
      };
    }
    if (response?.messageId) {
      return {
        source,
        messageIds: [response.messageId],
        accepted: response.replayed === false ? 1 : 0,
      };
    }
    return { source };
  }
}

function isServerStream(call: GrpcCall | undefined): boolean {
  return typeof (call as { write?: unknown } | undefined)?.write === 'function';
}
