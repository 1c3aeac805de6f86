import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';
import { buildInfo } from './build-info';
import { OTLP_PROTOCOLS } from './tracing/otlp-exporter';
import type { TracingConfig } from './tracing/tracing';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The samplers OTEL_TRACES_SAMPLER names, as the SDK reads them. */
const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

const otlpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

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
        "Trace each gRPC call (continuing the caller's W3C traceparent), its PostgreSQL and Redis commands, and each delivery attempt with its provider request, in the trace of the call that accepted the message. On when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.",
      schema: boolean.default(false),
    }),
    OTEL_SDK_DISABLED: setting({
      description: 'true turns tracing off whatever the other settings say (the OpenTelemetry switch).',
      schema: boolean.default(false),
    }),
    OTEL_EXPORTER_OTLP_ENDPOINT: setting({
      description:
        'OTLP/HTTP collector base URL (traces go to <url>/v1/traces; http://localhost:4318 when tracing is on without it). Read by the exporter, with OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_EXPORTER_OTLP_COMPRESSION. Setting it turns tracing on.',
      schema: otlpUrl.optional(),
    }),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting({
      description:
        'Full OTLP/HTTP URL for traces, used as is, over OTEL_EXPORTER_OTLP_ENDPOINT. Read by the exporter. Setting it turns tracing on.',
      schema: otlpUrl.optional(),
    }),
    OTEL_EXPORTER_OTLP_HEADERS: setting({
      description:
        'Headers sent with each export, as "key=value,key2=value2" (a collector\'s API key, say); OTEL_EXPORTER_OTLP_TRACES_HEADERS adds to them. Read by the exporter.',
      schema: z.string().optional(),
      sensitive: true,
    }),
    OTEL_EXPORTER_OTLP_PROTOCOL: setting({
      description: `Encoding of the exports: ${OTLP_PROTOCOLS.map((protocol) => `"${protocol}"`).join(' or ')} (gRPC export is not built in). OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, when set, wins.`,
      schema: z.enum(OTLP_PROTOCOLS).default('http/protobuf'),
    }),
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: setting({
      description: 'Encoding of trace exports, over OTEL_EXPORTER_OTLP_PROTOCOL.',
      schema: z.enum(OTLP_PROTOCOLS).optional(),
    }),
    OTEL_SERVICE_NAME: setting({
      description:
        "service.name of the spans; over a service.name in OTEL_RESOURCE_ATTRIBUTES (the SDK's env detector reads both).",
      schema: z.string().min(1).default('mailgateway'),
    }),
    OTEL_RESOURCE_ATTRIBUTES: setting({
      description:
        'Resource attributes of the spans, as "key=value,key2=value2" (deployment.environment=prod,service.namespace=mail). Read by the SDK\'s env detector; service.version is the gateway\'s version.',
      schema: z.string().optional(),
    }),
    OTEL_TRACES_SAMPLER: setting({
      description:
        "Which traces are recorded, read by the SDK: parentbased_always_on (default: follow the caller's sampled flag, record new traces), parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG, always_on, always_off, traceidratio, parentbased_always_off.",
      schema: z.enum(TRACES_SAMPLERS).optional(),
    }),
    OTEL_TRACES_SAMPLER_ARG: setting({
      description: 'The ratio (0 to 1) of new traces the ratio samplers record. Read by the SDK.',
      schema: z.coerce.number().min(0).max(1).optional(),
    }),
  },
  build: (values): ObservabilityConfig => ({
    logLevel: values.LOG_LEVEL,
    metrics: { enabled: values.METRICS_ENABLED, host: values.METRICS_HOST, port: values.METRICS_PORT },
    tracing: {
      enabled:
        !values.OTEL_SDK_DISABLED &&
        (values.TRACING_ENABLED ||
          values.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
          values.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined),
      serviceName: values.OTEL_SERVICE_NAME,
      serviceVersion: buildInfo().version,
      protocol: values.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? values.OTEL_EXPORTER_OTLP_PROTOCOL,
    },
  }),
});
