import { createPublicKey, KeyObject } from 'node:crypto';
import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface SendgridWebhookConfig {
  /** The Signed Event Webhook's verification key; the endpoint is off without it. */
  readonly publicKey?: KeyObject;
}

export const sendgridWebhookConfig = defineConfig({
  name: 'sendgrid webhook',
  settings: {
    SENDGRID_WEBHOOK_PUBLIC_KEY: setting({
      description:
        'Turns on POST /webhooks/sendgrid: the verification key of SendGrid\'s Signed Event Webhook, as SendGrid shows it (base64 of the DER public key, "MFkw..."; a PEM block works too).',
      schema: z.string().min(1).optional(),
    }),
  },
  check: (values) => {
    const key = values.SENDGRID_WEBHOOK_PUBLIC_KEY;
    if (key === undefined) return [];
    return readPublicKey(key)
      ? []
      : ['SENDGRID_WEBHOOK_PUBLIC_KEY: not an ECDSA P-256 public key (base64 DER or PEM)'];
  },
  build: (values): SendgridWebhookConfig => ({
    publicKey: values.SENDGRID_WEBHOOK_PUBLIC_KEY
      ? readPublicKey(values.SENDGRID_WEBHOOK_PUBLIC_KEY)
      : undefined,
  }),
});

/** SendGrid shows the key as base64 DER (SPKI); some copy it with PEM armour. */
export function readPublicKey(text: string): KeyObject | undefined {
  try {
    const key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'spki' });
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return key.asymmetricKeyType === 'ec' && curve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}
