import type { Metadata } from '@grpc/grpc-js';
import {
  Attributes,
  context,
  Context,
  propagation,
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
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  attachLibraryInstrumentations,
  detachLibraryInstrumentations,
  instrumentLibraries,
} from './library-instrumentations';
import { OtlpProtocol, otlpSpanExporter } from './otlp-exporter';

export interface TracingConfig {
  readonly enabled: boolean;
  /** service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one. */
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly protocol: OtlpProtocol;
}

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).map((value) => value.toString());
    return values.length > 1 ? values : values[0];
  },
};

/**
 * OpenTelemetry for the process: a tracer provider, the W3C propagator and an async context
 * manager, registered globally while it runs, because the pg, ioredis and undici instrumentations
 * and the outbox find them there. So one gateway per process traces at a time. Off, it registers
 * nothing, unhooks the libraries and costs nothing.
 *
 * The sampler comes from OTEL_TRACES_SAMPLER/OTEL_TRACES_SAMPLER_ARG (read by the SDK; parent-based
 * always-on by default), the resource from OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (read by
 * the SDK's env detector), the exporter's endpoint and headers from OTEL_EXPORTER_OTLP_* (read by
 * the exporter).
 */
export class Tracing {
  private readonly provider: BasicTracerProvider | null = null;
  private readonly tracer: Tracer | null = null;
  private readonly detachLibraries: () => void = () => undefined;

  /** `exporter` replaces the OTLP exporter (tests use an in-memory one). */
  constructor(config: TracingConfig, exporter?: SpanExporter) {
    if (!config.enabled) {
      detachLibraryInstrumentations();
      return;
    }
    this.provider = new BasicTracerProvider({
      resource: defaultResource()
        .merge(
          resourceFromAttributes({
            'service.name': config.serviceName,
            'service.version': config.serviceVersion,
          }),
        )
        .merge(detectResources({ detectors: [envDetector] })),
      spanProcessors: [
        exporter
          ? new SimpleSpanProcessor(exporter)
          : new BatchSpanProcessor(otlpSpanExporter(config.protocol)),
      ],
    });
    // Globals are registered and removed together, so a taken tracer provider means a live Tracing.
    if (!trace.setGlobalTracerProvider(this.provider)) {
      throw new Error('tracing is already set up in this process: only one gateway per process can trace');
    }
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    // Normally hooked by the bootstrap already; here for gateways started otherwise (in-process
    // suites), where at least undici, observed through diagnostics channels, is traced.
    instrumentLibraries();
    this.detachLibraries = attachLibraryInstrumentations(this.provider);
    this.tracer = this.provider.getTracer('mailgateway');
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
    const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
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

  /**
   * A span for one delivery attempt, a child of the message's stored traceparent (its accepting
   * call's span), or of nothing when the message was accepted untraced.
   */
  startDeliverySpan(
    traceparent: string | null,
    attributes: Attributes,
  ): { span: Span; context: Context } | null {
    if (!this.tracer) return null;
    const parent = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
    const span = this.tracer.startSpan('delivery attempt', { kind: SpanKind.INTERNAL, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Runs `work` with `context` active: spans started inside it (pg, Redis, HTTP) are its children. */
  with<T>(active: Context | undefined, work: () => T): T {
    return active && this.tracer ? context.with(active, work) : work();
  }

  /** The active span as a W3C traceparent header value, or null outside a traced call. */
  currentTraceparent(): string | null {
    if (!this.tracer) return null;
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    return carrier.traceparent ?? null;
  }

  async shutdown(): Promise<void> {
    if (!this.provider) return;
    this.detachLibraries();
    try {
      await this.provider.shutdown();
    } finally {
      // Even if the last export failed: the process may start another traced gateway (suites do).
      trace.disable();
      context.disable();
      propagation.disable();
    }
  }
}
