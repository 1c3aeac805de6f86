export type { BounceClass, FeedbackKind, ProviderFeedback } from './provider-feedback';
export { FEEDBACK_SCHEMA } from './feedback.schema';
export { NotificationState, ProviderNotificationEntity } from './intake/provider-notification.entity';
export { WEBHOOK_PROVIDERS } from './intake/webhook-provider';
export type { InboundRequest, RefusalReason, Verification, WebhookProvider } from './intake/webhook-provider';
export { FeedbackModule } from './feedback.module';
export { feedbackConfig } from './feedback.settings';
export type { FeedbackConfig, FeedbackProcessingConfig } from './feedback.settings';
export { FeedbackProcessor } from './processing/feedback-processor.service';
