import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface HttpWebhookConfig {
  /** The Standard Webhooks signing keys (decoded); the endpoint is off when there are none. */
  readonly secrets: readonly Buffer[];
}

const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

export const httpWebhookConfig = defineConfig({
  name: 'http webhook',
  settings: {
    HTTP_WEBHOOK_SECRETS: setting({
      description:
        'Turns on POST /webhooks/http: the Standard Webhooks signing secrets of the http driver\'s upstream ("whsec_<base64>"), separated by commas or spaces. A request signed with any of them passes, so a rotation lists the new and the old until the upstream signs with the new one only.',
      schema: z
        .string()
        .optional()
        .refine((text) => splitSecrets(text).every((secret) => decodeSecret(secret) !== undefined), {
          message: 'each secret must be "whsec_" and the base64 of 24 to 64 bytes',
        }),
      sensitive: true,
    }),
  },
  build: (values): HttpWebhookConfig => ({
    secrets: splitSecrets(values.HTTP_WEBHOOK_SECRETS).map((secret) => decodeSecret(secret)!),
  }),
});

function splitSecrets(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter((secret) => secret.length > 0);
}

/** Standard Webhooks: "whsec_" then the base64 key, 24 to 64 bytes. */
function decodeSecret(secret: string): Buffer | undefined {
  const match = SECRET.exec(secret);
  if (!match) return undefined;
  const key = Buffer.from(match[1], 'base64');
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}
