import { DynamicModule, Module } from '@nestjs/common';
import { TransactionRunner } from '@mailgateway/database';
import { flowmailerConfig, UpstreamRegistry } from '@mailgateway/delivery';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionModule } from '@mailgateway/suppression';
import { FeedbackIntakeLifecycle } from './intake/feedback-intake.lifecycle';
import { ProviderNotificationRepository } from './intake/provider-notification.repository';
import { webhookProvidersProvider } from './intake/webhook-providers.factory';
import { FeedbackProcessor } from './processing/feedback-processor.service';
import { FlowmailerEventsPoller } from './providers/flowmailer/flowmailer-events-poller';
import { flowmailerEventsPoller } from './providers/flowmailer/flowmailer-events-poller.factory';
import { flowmailerEventsConfig } from './providers/flowmailer/flowmailer-events.settings';

/** Flowmailer pushes nothing by default: its event feed is read from a stored position, when the driver is configured. */
const flowmailerEventsPollerProvider = {
  provide: FlowmailerEventsPoller,
  useFactory: flowmailerEventsPoller,
  inject: [flowmailerEventsConfig.token, flowmailerConfig.token, UpstreamRegistry, TransactionRunner],
};

/**
 * Provider feedback: the providers' webhooks (intake) store each notification once; the processor
 * applies stored notifications to their messages' recipients and the suppression list. Its tables
 * (FEEDBACK_SCHEMA) live in the app's one database.
 */
@Module({})
export class FeedbackModule {
  static forRoot(): DynamicModule {
    return {
      module: FeedbackModule,
      imports: [OutboxModule, SuppressionModule],
      providers: [
        webhookProvidersProvider,
        ProviderNotificationRepository,
        FeedbackIntakeLifecycle,
        FeedbackProcessor,
        flowmailerEventsPollerProvider,
      ],
      exports: [ProviderNotificationRepository, FeedbackIntakeLifecycle, FeedbackProcessor],
    };
  }
}
