import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface PostmarkWebhookConfig {
  /** Set when all three settings are: the endpoint is off otherwise. */
  readonly credentials?: { readonly username: string; readonly password: string; readonly pathToken: string };
}

const SETTINGS = [
  'POSTMARK_WEBHOOK_USERNAME',
  'POSTMARK_WEBHOOK_PASSWORD',
  'POSTMARK_WEBHOOK_PATH_TOKEN',
] as const;

export const postmarkWebhookConfig = defineConfig({
  name: 'postmark webhook',
  settings: {
    POSTMARK_WEBHOOK_USERNAME: setting({
      description:
        'With POSTMARK_WEBHOOK_PASSWORD and POSTMARK_WEBHOOK_PATH_TOKEN, turns on POST /webhooks/postmark/<token>: the HTTP Basic user name set on the Postmark webhook.',
      schema: z
        .string()
        .min(1)
        .regex(/^[^:]+$/, 'must not contain ":"')
        .optional(),
    }),
    POSTMARK_WEBHOOK_PASSWORD: setting({
      description: 'The HTTP Basic password set on the Postmark webhook.',
      schema: z.string().min(16, 'must be at least 16 characters').optional(),
      sensitive: true,
    }),
    POSTMARK_WEBHOOK_PATH_TOKEN: setting({
      description:
        'The secret last segment of the Postmark webhook URL (/webhooks/postmark/<token>): 32 or more URL-safe characters (e.g. `openssl rand -hex 32`).',
      schema: z
        .string()
        .regex(/^[A-Za-z0-9_-]{32,256}$/, 'must be 32 to 256 characters of A-Z a-z 0-9 _ -')
        .optional(),
      sensitive: true,
    }),
  },
  check: (values) => {
    const set = SETTINGS.filter((name) => values[name] !== undefined);
    if (set.length === 0 || set.length === SETTINGS.length) return [];
    return SETTINGS.filter((name) => values[name] === undefined).map(
      (name) => `${name}: required with ${set.join(' and ')} (the Postmark webhook needs all three)`,
    );
  },
  build: (values): PostmarkWebhookConfig => {
    const { POSTMARK_WEBHOOK_USERNAME: username, POSTMARK_WEBHOOK_PASSWORD: password } = values;
    const pathToken = values.POSTMARK_WEBHOOK_PATH_TOKEN;
    return username && password && pathToken ? { credentials: { username, password, pathToken } } : {};
  },
});
