import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface FlowmailerConfig {
  readonly apiUrl: string;
  readonly tokenUrl: string;
  readonly accountId?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
}

export const flowmailerConfig = defineConfig({
  name: 'flowmailer driver',
  settings: {
    FLOWMAILER_API_URL: setting({
      description: 'Driver "flowmailer": API base URL.',
      schema: z.string().url().default('https://api.flowmailer.net'),
      upstreamUrl: true,
    }),
    FLOWMAILER_TOKEN_URL: setting({
      description: 'Driver "flowmailer": OAuth2 token endpoint (client credentials).',
      schema: z.string().url().default('https://login.flowmailer.net/oauth/token'),
      upstreamUrl: true,
    }),
    FLOWMAILER_ACCOUNT_ID: setting({
      description: 'Driver "flowmailer": account id, part of every API path.',
      schema: z.string().min(1).optional(),
    }),
    FLOWMAILER_CLIENT_ID: setting({
      description: 'Driver "flowmailer": OAuth2 client id.',
      schema: z.string().min(1).optional(),
    }),
    FLOWMAILER_CLIENT_SECRET: setting({
      description: 'Driver "flowmailer": OAuth2 client secret.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
  },
  build: (values): FlowmailerConfig => ({
    apiUrl: values.FLOWMAILER_API_URL,
    tokenUrl: values.FLOWMAILER_TOKEN_URL,
    accountId: values.FLOWMAILER_ACCOUNT_ID,
    clientId: values.FLOWMAILER_CLIENT_ID,
    clientSecret: values.FLOWMAILER_CLIENT_SECRET,
  }),
});
