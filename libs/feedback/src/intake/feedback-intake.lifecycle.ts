import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { feedbackListenerConfig, FeedbackListenerConfig } from '../feedback.settings';
import { FeedbackIntakeMetrics } from './feedback-intake-metrics';
import { FeedbackServer } from './feedback-server';
import { ProviderNotificationRepository } from './provider-notification.repository';
import { WEBHOOK_PROVIDERS, WebhookProvider } from './webhook-provider';

/**
 * Runs the webhook listener while the app runs, when at least one provider is configured. It stops
 * as the app starts closing (before the database does), so requests in flight still commit.
 */
@Injectable()
export class FeedbackIntakeLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('FeedbackIntake');
  private readonly server: FeedbackServer;
  private listeningPort: number | null = null;

  constructor(
    @InjectConfig(feedbackListenerConfig) private readonly config: FeedbackListenerConfig,
    @Inject(WEBHOOK_PROVIDERS) private readonly providers: WebhookProvider[],
    notifications: ProviderNotificationRepository,
    metrics: GatewayMetrics,
  ) {
    this.server = new FeedbackServer({
      maxBodyBytes: config.maxBodyBytes,
      providers,
      notifications,
      metrics: new FeedbackIntakeMetrics(metrics),
      logger: this.logger,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.providers.length === 0) return;
    const { host, port } = this.config;
    this.listeningPort = await this.server.listen(host, port);
    const paths = this.providers.map(({ name }) => `/webhooks/${name}`).join(', ');
    this.logger.log(`provider webhooks on http://${host}:${this.listeningPort} (${paths})`);
  }

  /** The port the listener is on (FEEDBACK_PORT=0 picks one), or null when no provider is configured. */
  get port(): number | null {
    return this.listeningPort;
  }

  async onModuleDestroy(): Promise<void> {
    await this.server.close();
  }
}
