import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Metadata, status } from '@grpc/grpc-js';
import { findPrincipal } from '@mailgateway/auth';
import { CallSummary, CallTelemetry, GrpcCall } from '@mailgateway/observability';
import { Observable, tap } from 'rxjs';

interface AnyResponse {
  messageId?: string;
  replayed?: boolean;
  results?: { accepted?: { messageId: string; replayed: boolean } }[];
}

/**
 * Opens each call's telemetry (log line, metrics, span) and closes it on success; failures are
 * closed by the exception filter, which also sees calls refused before reaching here.
 */
@Injectable()
export class GrpcCallInterceptor implements NestInterceptor {
  constructor(private readonly telemetry: CallTelemetry) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const call = context.getArgByIndex<GrpcCall>(2);
    const metadata = context.switchToRpc().getContext<Metadata>();
    this.telemetry.begin(call, metadata);
    // The handler runs inside the call's trace context (Nest binds it when handle() is called).
    return this.telemetry
      .run(call, () => next.handle())
      .pipe(
        tap((response) =>
          this.telemetry.end(call, status.OK, this.summarize(response as AnyResponse, metadata)),
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
