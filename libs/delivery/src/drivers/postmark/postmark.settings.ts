import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface PostmarkConfig {
  readonly apiUrl: string;
  readonly serverToken?: string;
  readonly messageStream: string;
}

export const postmarkConfig = defineConfig({
  name: 'postmark driver',
  settings: {
    POSTMARK_API_URL: setting({
      description: 'Driver "postmark": API base URL.',
      schema: z.string().url().default('https://api.postmarkapp.com'),
      upstreamUrl: true,
    }),
    POSTMARK_SERVER_TOKEN: setting({
      description: 'Driver "postmark": server API token.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
    POSTMARK_MESSAGE_STREAM: setting({
      description: 'Driver "postmark": message stream for transactional mail.',
      schema: z.string().min(1).default('outbound'),
    }),
  },
  build: (values): PostmarkConfig => ({
    apiUrl: values.POSTMARK_API_URL,
    serverToken: values.POSTMARK_SERVER_TOKEN,
    messageStream: values.POSTMARK_MESSAGE_STREAM,
  }),
});
