import { Metadata, status } from '@grpc/grpc-js';
import { GrpcOptions, ServerGrpc } from '@nestjs/microservices';
import { findPrincipal } from '@mailgateway/auth';
import { CallSummary, CallTelemetry, GrpcCall } from '@mailgateway/observability';
import { isObservable, lastValueFrom } from 'rxjs';

/** The unary grpc-js call and callback Nest's transport hands a method. */
interface UnaryCall extends GrpcCall {
  readonly request: unknown;
  readonly metadata: Metadata;
}
type UnaryCallback = (error: unknown, response?: unknown) => void;
interface StreamCall extends UnaryCall {
  readonly cancelled: boolean;
}
type MethodHandler = (request: unknown, metadata: Metadata, call: unknown) => unknown;

interface AnyResponse {
  messageId?: string;
  replayed?: boolean;
  results?: { accepted?: { messageId: string; replayed: boolean } }[];
}

/**
 * Nest's gRPC transport, with each call's telemetry (log line, metric, span) opened around its
 * whole handling, guards included, and closed where the answer is sent. Failures are closed by
 * the exception filter first. Doing this in the transport rather than in a global interceptor keeps
 * Nest's interceptor pipeline (an rxjs chain and an async resource per call) off every call.
 */
export class GatewayGrpcServer extends ServerGrpc {
  constructor(
    options: GrpcOptions['options'],
    private readonly telemetry: CallTelemetry,
  ) {
    super(options);
  }

  override createUnaryServiceMethod(methodHandler: MethodHandler) {
    return (call: UnaryCall, callback: UnaryCallback): void => {
      void this.telemetry.run(call, async () => {
        try {
          const response = await valueOf(await methodHandler(call.request, call.metadata, call));
          this.telemetry.end(
            call,
            call.metadata,
            status.OK,
            summarize(response as AnyResponse, call.metadata),
          );
          callback(null, response);
        } catch (error) {
          callback(error);
        }
      });
    };
  }

  override createStreamServiceMethod(methodHandler: MethodHandler) {
    const serve = super.createStreamServiceMethod(methodHandler) as (call: StreamCall) => Promise<void>;
    return (call: StreamCall): void => {
      void this.telemetry.run(call, async () => {
        await serve(call);
        // A stream ends when it completes, or CANCELLED when the client leaves; an error was closed
        // by the exception filter already.
        this.telemetry.end(call, call.metadata, call.cancelled ? status.CANCELLED : status.OK, {
          source: sourceOf(call.metadata),
        });
      });
    };
  }
}

/** A handler's answer: a value, or the filter's observable of an error. */
function valueOf(result: unknown): unknown {
  return isObservable(result) ? lastValueFrom(result) : result;
}

function sourceOf(metadata: Metadata): string {
  return findPrincipal(metadata)?.source ?? 'unauthenticated';
}

function summarize(response: AnyResponse | undefined, metadata: Metadata): CallSummary {
  const source = sourceOf(metadata);
  if (response?.results) {
    const accepted = response.results.flatMap((result) => (result.accepted ? [result.accepted] : []));
    return {
      source,
      messageIds: accepted.map(({ messageId }) => messageId),
      accepted: accepted.filter(({ replayed }) => !replayed).length,
    };
  }
  if (response?.messageId) {
    return { source, messageIds: [response.messageId], accepted: response.replayed === false ? 1 : 0 };
  }
  return { source };
}
