export type { BounceClass, FeedbackKind, ProviderFeedback } from './provider-feedback';
