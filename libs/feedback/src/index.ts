export type { BounceClass, FeedbackKind, ProviderFeedback } from './provider-feedback';
export { FEEDBACK_SCHEMA } from './feedback.schema';
export { NotificationState, ProviderNotificationEntity } from './intake/provider-notification.entity';
export { WEBHOOK_PROVIDERS } from './intake/webhook-provider';
export type { InboundRequest, RefusalReason, Verification, WebhookProvider } from './intake/webhook-provider';
export * from './providers/ses';
export * from './providers/flowmailer';
export { FEEDBACK_PROVIDER_CONFIG_SLICES } from './providers/provider-config-slices';
