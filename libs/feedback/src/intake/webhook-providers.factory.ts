import type { FactoryProvider } from '@nestjs/common';
import { UpstreamRegistry } from '@mailgateway/delivery';
import { feedbackConfig, feedbackListenerConfig, FeedbackListenerConfig } from '../feedback.settings';
import { HttpWebhookProvider } from '../providers/http/http-webhook.provider';
import { HttpWebhookConfig, httpWebhookConfig } from '../providers/http/http-webhook.settings';
import { PostmarkWebhookProvider } from '../providers/postmark/postmark-webhook.provider';
import {
  PostmarkWebhookConfig,
  postmarkWebhookConfig,
} from '../providers/postmark/postmark-webhook.settings';
import { SendgridWebhookProvider } from '../providers/sendgrid/sendgrid-webhook.provider';
import {
  SendgridWebhookConfig,
  sendgridWebhookConfig,
} from '../providers/sendgrid/sendgrid-webhook.settings';
import { FEEDBACK_PROVIDER_CONFIG_SLICES } from '../providers/provider-config-slices';
import { SesWebhookProvider } from '../providers/ses/ses-webhook.provider';
import { SesConfig, sesConfig } from '../providers/ses/ses.settings';
import { UpstreamSnsFetcher } from '../providers/ses/upstream-sns-fetcher';
import { WEBHOOK_PROVIDERS } from './webhook-provider';
import type { WebhookProvider } from './webhook-provider';

/** Every feedback setting (processing, the listener, each provider's webhook), for the app's list of slices. */
export const FEEDBACK_CONFIG_SLICES = [
  feedbackConfig,
  feedbackListenerConfig,
  sendgridWebhookConfig,
  postmarkWebhookConfig,
  httpWebhookConfig,
  ...FEEDBACK_PROVIDER_CONFIG_SLICES,
];

/** The only place that knows every webhook provider: one line each, on when its settings are there. */
export function configuredWebhookProviders(
  { replayWindowMs }: FeedbackListenerConfig,
  { publicKey }: SendgridWebhookConfig,
  { credentials }: PostmarkWebhookConfig,
  { secrets }: HttpWebhookConfig,
  ses: SesConfig,
  registry: UpstreamRegistry,
): WebhookProvider[] {
  const providers: WebhookProvider[] = [];
  if (publicKey) providers.push(new SendgridWebhookProvider(publicKey, replayWindowMs));
  if (credentials) providers.push(new PostmarkWebhookProvider(credentials));
  if (secrets.length > 0) providers.push(new HttpWebhookProvider(secrets, replayWindowMs));
  if (ses.topicArns.length > 0) {
    providers.push(
      new SesWebhookProvider(ses, { replayWindowMs, fetcher: new UpstreamSnsFetcher(registry) }),
    );
  }
  return providers;
}

/** WEBHOOK_PROVIDERS, built from the loaded settings. */
export const webhookProvidersProvider: FactoryProvider<WebhookProvider[]> = {
  provide: WEBHOOK_PROVIDERS,
  useFactory: configuredWebhookProviders,
  inject: [
    feedbackListenerConfig.token,
    sendgridWebhookConfig.token,
    postmarkWebhookConfig.token,
    httpWebhookConfig.token,
    sesConfig.token,
    UpstreamRegistry,
  ],
};
