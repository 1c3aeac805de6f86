import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface HttpDriverConfig {
  readonly url?: string;
  readonly authHeader: string;
  readonly authValue?: string;
}

export const httpDriverConfig = defineConfig({
  name: 'http driver',
  settings: {
    HTTP_DRIVER_URL: setting({
      description: 'Driver "http": the URL each message is POSTed to as JSON.',
      schema: z.string().url().optional(),
      upstreamUrl: true,
    }),
    HTTP_DRIVER_AUTH_HEADER: setting({
      description: 'Driver "http": the header that carries HTTP_DRIVER_AUTH_VALUE.',
      schema: z.string().min(1).default('authorization'),
    }),
    HTTP_DRIVER_AUTH_VALUE: setting({
      description: 'Driver "http": the credential sent in HTTP_DRIVER_AUTH_HEADER (e.g. "Bearer ...").',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
  },
  build: (values): HttpDriverConfig => ({
    url: values.HTTP_DRIVER_URL,
    authHeader: values.HTTP_DRIVER_AUTH_HEADER,
    authValue: values.HTTP_DRIVER_AUTH_VALUE,
  }),
});
