import type { Metadata } from '@grpc/grpc-js';
import {
  Context,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  TextMapGetter,
  trace,
  Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface TracingConfig {
  readonly enabled: boolean;
  readonly otlpEndpoint?: string;
  readonly serviceName: string;
}

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).map((value) => value.toString());
    return values.length > 1 ? values : values[0];
  },
};

/**
 * W3C trace context for gRPC calls, with a provider, context manager and propagator of its own
 * (nothing is registered globally, so two gateways in one test process stay apart). Off, it does
 * nothing and costs nothing.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider | null = null;
  private readonly tracer: Tracer | null = null;
  private readonly contextManager = new AsyncLocalStorageContextManager();
  private readonly propagator = new W3CTraceContextPropagator();

  /** `exporter` replaces the OTLP exporter (tests use an in-memory one). */
  constructor(config: TracingConfig, exporter?: SpanExporter) {
    if (!config.enabled) return;
    const spanProcessors: SpanProcessor[] = [];
    if (exporter) spanProcessors.push(new SimpleSpanProcessor(exporter));
    else if (config.otlpEndpoint) {
      const url = `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
      spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
    }
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      spanProcessors,
    });
    this.tracer = this.provider.getTracer('mailgateway');
    this.contextManager.enable();
  }

  get enabled(): boolean {
    return this.tracer !== null;
  }

  /** A server span for one call, continuing the caller's traceparent if the metadata has one. */
  startCallSpan(
    service: string,
    method: string,
    metadata: Metadata,
  ): { span: Span; context: Context } | null {
    if (!this.tracer) return null;
    const parent = this.propagator.extract(ROOT_CONTEXT, metadata, metadataGetter);
    const span = this.tracer.startSpan(
      `${service}/${method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
      },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  }

  endCallSpan(span: Span, grpcCode: number, codeName: string): void {
    span.setAttribute('rpc.grpc.status_code', grpcCode);
    if (grpcCode !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName });
    span.end();
  }

  /** Runs `work` with `context` active, so currentTraceparent() inside it sees the call's span. */
  with<T>(context: Context | undefined, work: () => T): T {
    return context ? this.contextManager.with(context, work) : work();
  }

  /** The active span as a W3C traceparent header value, or null outside a traced call. */
  currentTraceparent(): string | null {
    if (!this.tracer) return null;
    const carrier: Record<string, string> = {};
    this.propagator.inject(this.contextManager.active(), carrier, {
      set: (target, key, value) => (target[key] = value),
    });
    return carrier.traceparent ?? null;
  }

  async shutdown(): Promise<void> {
    this.contextManager.disable();
    await this.provider?.shutdown();
  }
}
