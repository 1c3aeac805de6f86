import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/**
 * The OTLP/HTTP exporter for `protocol`. Given no options, it reads its endpoint, headers, timeout
 * and compression from the standard OTEL_EXPORTER_OTLP_[TRACES_]* variables itself.
 */
export function otlpSpanExporter(protocol: OtlpProtocol): SpanExporter {
  return protocol === 'http/json' ? new JsonTraceExporter() : new ProtobufTraceExporter();
}
