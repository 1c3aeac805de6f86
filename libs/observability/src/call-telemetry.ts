import { performance } from 'node:perf_hooks';
import { Metadata, status } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { GatewayLogger } from './logging/gateway-logger';
import type { GatewayMetrics } from './metrics/gateway-metrics';
import type { Tracing } from './tracing/tracing';

/** What a gRPC call object offers here (grpc-js ServerUnaryCall and friends, or a copy of one). */
export interface GrpcCall {
  readonly path?: string;
  readonly metadata?: Metadata;
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
  readonly method: string;
  readonly startedAt: number;
  readonly span: Span | null;
  ended: boolean;
}

const ACCEPT_METHODS = new Set(['SendMail', 'SendMailBatch']);

/**
 * One log line, one metric sample and one span per gRPC call. run() wraps the call's whole
 * handling, guards included, so the key lookup and the rate limit's Redis command are traced in
 * the call; end() runs on the answer (the transport) or the error (exception filter). Calls are told
 * apart by their metadata object, the one thing the transport, guards, handler and filter
 * all see.
 */
export class CallTelemetry {
  private readonly calls = new WeakMap<Metadata, CallState>();
  private readonly logger: GatewayLogger;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly tracing: Tracing,
    logger: GatewayLogger,
  ) {
    this.logger = logger.child({ context: 'GrpcCall' });
  }

  /** Opens the call's telemetry and runs its handling inside the call's trace context. */
  run<T>(call: GrpcCall, work: () => T): T {
    const metadata = call.metadata;
    if (!metadata) return work();
    const { service, method } = nameOf(call);
    const traced = this.tracing.startCallSpan(service, method, metadata);
    this.calls.set(metadata, {
      method,
      startedAt: performance.now(),
      span: traced?.span ?? null,
      ended: false,
    });
    return this.tracing.with(traced?.context, work);
  }

  end(call: GrpcCall | undefined, metadata: Metadata | undefined, code: status, summary: CallSummary): void {
    const state = metadata ? this.calls.get(metadata) : undefined;
    if (state?.ended) return;
    if (state) state.ended = true;
    const method = state?.method ?? nameOf(call).method;
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
  const path = call?.getPath?.() ?? call?.path ?? '';
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return match ? { service: match[1], method: match[2] } : { service: 'unknown', method: 'unknown' };
}
