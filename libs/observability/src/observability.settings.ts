import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';
import type { TracingConfig } from './tracing/tracing';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ObservabilityConfig {
  readonly logLevel: LogLevel;
  readonly metrics: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly tracing: TracingConfig;
}

export const observabilityConfig = defineConfig({
  name: 'observability',
  settings: {
    LOG_LEVEL: setting({
      description:
        'Least severe log level written, as JSON lines on stdout ("log" is pino\'s "info", "verbose" its "trace").',
      schema: z.enum(LOG_LEVELS).default('log'),
    }),
    METRICS_ENABLED: setting({
      description: 'Serve Prometheus metrics (/metrics) and HTTP probes (/livez, /readyz).',
      schema: boolean.default(true),
    }),
    METRICS_HOST: setting({
      description: 'Address the metrics and probe HTTP server binds to (0.0.0.0 in containers).',
      schema: z.string().min(1).default('127.0.0.1'),
    }),
    METRICS_PORT: setting({
      description: 'Port of the metrics and probe HTTP server; 0 picks a free port (logged at start).',
      schema: integer(0, 65535).default(9464),
    }),
    TRACING_ENABLED: setting({
      description:
        "Create a span per gRPC call, continuing the caller's W3C traceparent, and store the trace context with each message for its delivery. On when OTEL_EXPORTER_OTLP_ENDPOINT is set.",
      schema: boolean.default(false),
    }),
    OTEL_EXPORTER_OTLP_ENDPOINT: setting({
      description:
        'OTLP/HTTP collector base URL (traces go to <url>/v1/traces). Setting it turns tracing on.',
      schema: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    }),
    OTEL_SERVICE_NAME: setting({
      description: 'service.name of the spans.',
      schema: z.string().min(1).default('mailgateway'),
    }),
  },
  build: (values): ObservabilityConfig => ({
    logLevel: values.LOG_LEVEL,
    metrics: { enabled: values.METRICS_ENABLED, host: values.METRICS_HOST, port: values.METRICS_PORT },
    tracing: {
      enabled: values.TRACING_ENABLED || values.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined,
      otlpEndpoint: values.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: values.OTEL_SERVICE_NAME,
    },
  }),
});
