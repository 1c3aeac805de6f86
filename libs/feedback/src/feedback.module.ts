import { Module } from '@nestjs/common';
import { FeedbackIntakeLifecycle } from './intake/feedback-intake.lifecycle';
import { ProviderNotificationRepository } from './intake/provider-notification.repository';
import { webhookProvidersProvider } from './intake/webhook-providers.factory';

/**
 * Provider feedback: the providers' webhooks (intake), stored once per notification. Its table
 * (FEEDBACK_SCHEMA) lives in the app's one database (DatabaseModule).
 */
@Module({
  providers: [webhookProvidersProvider, ProviderNotificationRepository, FeedbackIntakeLifecycle],
  exports: [ProviderNotificationRepository, FeedbackIntakeLifecycle],
})
export class FeedbackModule {}
