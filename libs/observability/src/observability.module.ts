import {
  DynamicModule,
  Global,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { CallTelemetry } from './call-telemetry';
import { DeliveryTelemetry } from './delivery-telemetry';
import { GatewayHealth } from './health/gateway-health';
import { GatewayMetrics } from './metrics/gateway-metrics';
import { MetricsServer } from './metrics/metrics-server';
import type { Observability } from './observability';
import { ObservabilityConfig, observabilityConfig } from './observability.settings';
import { Tracing } from './tracing/tracing';

export const GATEWAY_LOGGER = Symbol('GATEWAY_LOGGER');

/** Serves /metrics and the HTTP probes while the app runs; readiness drops as shutdown starts. */
@Injectable()
export class ObservabilityLifecycle
  implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown
{
  private readonly logger = new Logger('Observability');
  private readonly server: MetricsServer;
  private port: number | null = null;

  constructor(
    metrics: GatewayMetrics,
    private readonly health: GatewayHealth,
    private readonly tracing: Tracing,
    @InjectConfig(observabilityConfig) private readonly config: ObservabilityConfig,
  ) {
    this.server = new MetricsServer(metrics, health);
  }

  async onApplicationBootstrap(): Promise<void> {
    const { enabled, host, port } = this.config.metrics;
    if (!enabled) return;
    this.port = await this.server.listen(host, port);
    this.logger.log(`metrics and probes on http://${host}:${this.port} (/metrics, /livez, /readyz)`);
  }

  /** The port /metrics listens on (METRICS_PORT=0 picks one), or null when disabled. */
  get metricsPort(): number | null {
    return this.port;
  }

  // closeGatewayApp turns health NOT_SERVING before it drains; this covers an app closed directly.
  onModuleDestroy(): void {
    this.health.startShutdown();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server.close();
    await this.tracing.shutdown();
  }
}

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(observability: Observability): DynamicModule {
    const { logger, metrics, health, tracing, calls, deliveries } = observability;
    return {
      module: ObservabilityModule,
      providers: [
        { provide: GATEWAY_LOGGER, useValue: logger },
        { provide: GatewayMetrics, useValue: metrics },
        { provide: GatewayHealth, useValue: health },
        { provide: Tracing, useValue: tracing },
        { provide: CallTelemetry, useValue: calls },
        { provide: DeliveryTelemetry, useValue: deliveries },
        ObservabilityLifecycle,
      ],
      exports: [GATEWAY_LOGGER, GatewayMetrics, GatewayHealth, Tracing, CallTelemetry, DeliveryTelemetry],
    };
  }
}
