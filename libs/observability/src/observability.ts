import type { DestinationStream } from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { CallTelemetry } from './call-telemetry';
import { DeliveryTelemetry } from './delivery-telemetry';
import { GatewayHealth } from './health/gateway-health';
import { createGatewayLogger, GatewayLogger } from './logging/gateway-logger';
import { GatewayMetrics } from './metrics/gateway-metrics';
import type { ObservabilityConfig } from './observability.settings';
import { Tracing } from './tracing/tracing';

/** The process-wide pieces, made before the Nest app because the gRPC server options need them. */
export interface Observability {
  readonly logger: GatewayLogger;
  readonly metrics: GatewayMetrics;
  readonly health: GatewayHealth;
  readonly tracing: Tracing;
  /** Opened by the gRPC server's hook on each call, before guards run. */
  readonly calls: CallTelemetry;
  readonly deliveries: DeliveryTelemetry;
}

export interface ObservabilityOverrides {
  /** Where log lines go instead of stdout. */
  readonly logDestination?: DestinationStream;
  /** Receives finished spans instead of the OTLP exporter. */
  readonly spanExporter?: SpanExporter;
}

export function createObservability(
  config: ObservabilityConfig,
  servedServices: readonly string[],
  overrides: ObservabilityOverrides = {},
): Observability {
  const logger = createGatewayLogger(config.logLevel, overrides.logDestination);
  const metrics = new GatewayMetrics();
  const tracing = new Tracing(config.tracing, overrides.spanExporter);
  return {
    logger,
    metrics,
    health: new GatewayHealth(servedServices),
    tracing,
    calls: new CallTelemetry(metrics, tracing, logger),
    deliveries: new DeliveryTelemetry(metrics, tracing, logger),
  };
}
