export type { BounceClass, FeedbackKind, ProviderFeedback } from './provider-feedback';
export { FEEDBACK_SCHEMA } from './feedback.schema';
export { NotificationState, ProviderNotificationEntity } from './intake/provider-notification.entity';
