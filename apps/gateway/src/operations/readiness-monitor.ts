import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { DatabaseMonitor } from '@mailgateway/database';
import { GatewayHealth, GatewayMetrics } from '@mailgateway/observability';
import { OutboxMonitor } from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { GatewayConfig, gatewayConfig } from '../gateway.settings';

/**
 * Re-checks readiness (database answers, schema current) every HEALTH_CHECK_INTERVAL_MS and feeds
 * the gauges read at scrape time (the outbox's, the suppression filter's). A replica whose database
 * is gone stops receiving traffic; it stays alive.
 */
@Injectable()
export class ReadinessMonitor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ReadinessMonitor.name);
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private lastReason: string | null | undefined;

  constructor(
    private readonly database: DatabaseMonitor,
    private readonly outbox: OutboxMonitor,
    private readonly health: GatewayHealth,
    private readonly metrics: GatewayMetrics,
    private readonly suppressions: SuppressionList,
    @InjectConfig(gatewayConfig) private readonly config: GatewayConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.metrics.setOutboxDepthReader(() => this.outbox.depth());
    this.metrics.setSuppressionFilterReader(() => this.suppressions.filterReady);
    await this.check();
    this.timer = setInterval(() => void this.check(), this.config.healthCheckIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const reason = await this.database.notReadyReason();
      if (reason !== this.lastReason) {
        if (reason) this.logger.warn(`Not ready: ${reason}`);
        else this.logger.log('Ready');
        this.lastReason = reason;
      }
      this.health.setReady(reason === null, reason ?? '');
    } finally {
      this.checking = false;
    }
  }
}
