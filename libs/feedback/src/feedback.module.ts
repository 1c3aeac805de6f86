import { DynamicModule, Module } from '@nestjs/common';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionModule } from '@mailgateway/suppression';
import { FeedbackIntakeLifecycle } from './intake/feedback-intake.lifecycle';
import { ProviderNotificationRepository } from './intake/provider-notification.repository';
import { webhookProvidersProvider } from './intake/webhook-providers.factory';
import { FeedbackProcessor } from './processing/feedback-processor.service';

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
      ],
      exports: [ProviderNotificationRepository, FeedbackIntakeLifecycle, FeedbackProcessor],
    };
  }
}
