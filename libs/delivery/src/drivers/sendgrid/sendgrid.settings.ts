import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface SendgridConfig {
  readonly apiUrl: string;
  readonly apiKey?: string;
}

export const sendgridConfig = defineConfig({
  name: 'sendgrid driver',
  settings: {
    SENDGRID_API_URL: setting({
      description: 'Driver "sendgrid": API base URL.',
      schema: z.string().url().default('https://api.sendgrid.com'),
      upstreamUrl: true,
    }),
    SENDGRID_API_KEY: setting({
      description: 'Driver "sendgrid": API key with the Mail Send permission.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
  },
  build: (values): SendgridConfig => ({ apiUrl: values.SENDGRID_API_URL, apiKey: values.SENDGRID_API_KEY }),
});
