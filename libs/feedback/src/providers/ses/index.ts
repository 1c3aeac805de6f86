export { SesWebhookProvider } from './ses-webhook.provider';
export type { SesWebhookOptions } from './ses-webhook.provider';
export { sesConfig } from './ses.settings';
export type { SesConfig } from './ses.settings';
export type { SnsFetcher } from './sns-fetcher';
export { UpstreamSnsFetcher } from './upstream-sns-fetcher';
export { SES_FEEDBACK_PROVIDER } from './ses-notification';
