import { performance } from 'node:perf_hooks';
import { Metadata, status } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import type { GatewayLogger } from './logging/gateway-logger';
import type { GatewayMetrics } from './metrics/gateway-metrics';
import type { Tracing } from './tracing/tracing';

/** What a gRPC call object offers here (grpc-js ServerUnaryCall and friends). */
export interface GrpcCall {
  getPath?(): string;
}

export interface CallSummary {
  readonly source: string;
  /** Ids of the messages the call created or read; never any content. */
  readonly messageIds?: readonly string[];
  /** Messages committed by this call (replays excluded). */
  readonly accepted?: number;
  /** For INTERNAL: the id the caller was given, to find this line. */
  readonly errorId?: string;
}

interface CallState {
  readonly startedAt: number;
  readonly span: Span | null;
  readonly context: Context | undefined;
  ended: boolean;
}

const ACCEPT_METHODS = new Set(['SendMail', 'SendMailBatch']);

/**
 * One log line, one metric sample and one span per gRPC call. begin() runs when the handler is
 * reached; end() runs on the answer, or from the exception filter for calls refused before the
 * handler (guards), which then have no duration.
 */
export class CallTelemetry {
  private readonly calls = new WeakMap<object, CallState>();
  private readonly logger: GatewayLogger;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly tracing: Tracing,
    logger: GatewayLogger,
  ) {
    this.logger = logger.child({ context: 'GrpcCall' });
  }

  begin(call: GrpcCall, metadata: Metadata | undefined): void {
    const { service, method } = nameOf(call);
    const traced = metadata ? this.tracing.startCallSpan(service, method, metadata) : null;
    this.calls.set(call, {
      startedAt: performance.now(),
      span: traced?.span ?? null,
      context: traced?.context,
      ended: false,
    });
  }

  /** Runs the handler inside the call's trace context. */
  run<T>(call: GrpcCall, work: () => T): T {
    return this.tracing.with(this.calls.get(call)?.context, work);
  }

  end(call: GrpcCall | undefined, code: status, summary: CallSummary): void {
    const state = call ? this.calls.get(call) : undefined;
    if (state?.ended) return;
    if (state) state.ended = true;
    const { method } = nameOf(call);
    const codeName = status[code] ?? String(code);
    const durationMs = state ? performance.now() - state.startedAt : undefined;
    this.metrics.grpcCalls.inc({ method, code: codeName });
    if (code === status.OK && durationMs !== undefined && ACCEPT_METHODS.has(method)) {
      this.metrics.acceptDuration.observe({ method }, durationMs / 1000);
    }
    if (summary.accepted) this.metrics.messagesAccepted.inc({ source: summary.source }, summary.accepted);
    if (state?.span) this.tracing.endCallSpan(state.span, code, codeName);
    const line = {
      method,
      code: codeName,
      durationMs: durationMs === undefined ? undefined : Math.round(durationMs * 100) / 100,
      source: summary.source,
      messageIds: summary.messageIds?.length ? summary.messageIds : undefined,
      errorId: summary.errorId,
      traceId: state?.span?.spanContext().traceId,
    };
    if (code === status.INTERNAL || code === status.UNKNOWN) this.logger.error(line, 'grpc call');
    else this.logger.info(line, 'grpc call');
  }
}

function nameOf(call: GrpcCall | undefined): { service: string; method: string } {
  const path = call?.getPath?.() ?? '';
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return match ? { service: match[1], method: match[2] } : { service: 'unknown', method: 'unknown' };
}
