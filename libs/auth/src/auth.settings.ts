import { defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';
import { API_KEY_FORMAT } from './api-key-format';
import { MAX_ROTATION_OVERLAP_SECONDS } from './api-key-durations';
import { SOURCE_NAME } from './source-name';

export interface AuthConfig {
  readonly bootstrapSource: string;
  readonly bootstrapApiKey?: string;
  readonly rotationOverlapMs: number;
  readonly cacheMs: number;
}

export const authConfig = defineConfig({
  name: 'auth',
  settings: {
    BOOTSTRAP_SOURCE: setting({
      description:
        'Source created on first start (roles mail.send, mail.read and admin) so a fresh gateway has a way in.',
      schema: z.string().regex(SOURCE_NAME, 'must be lowercase letters, digits and dashes').default('dev'),
    }),
    BOOTSTRAP_API_KEY: setting({
      description:
        'An API key (mgw_<prefix>_<secret>, e.g. from `mailgateway keys generate`) registered for BOOTSTRAP_SOURCE at start if its prefix is new. When unset, a fresh SQLite gateway creates a key and prints it once.',
      schema: z
        .string()
        .regex(API_KEY_FORMAT, 'must be an API key: mgw_<12 hex digits>_<43 base64url characters>')
        .optional(),
      sensitive: true,
    }),
    API_KEY_ROTATION_OVERLAP_MS: setting({
      description:
        'After a rotation the old key stays valid this long, unless the call names its own overlap.',
      schema: integer(0, MAX_ROTATION_OVERLAP_SECONDS * 1000).default(86_400_000),
    }),
    API_KEY_CACHE_MS: setting({
      description:
        "How long SendMail and SendMailBatch may authenticate from a key this process verified (never past the key's expiry), instead of a lookup per call. Revocation and expiry still stop sends at once on every replica: the commit checks the key. A change to a source's roles or policy reaches those two calls within this time; every other call looks its key up each time. 0 looks up on every call; at most 5000.",
      schema: integer(0, 5_000).default(2_000),
    }),
  },
  build: (values): AuthConfig => ({
    bootstrapSource: values.BOOTSTRAP_SOURCE,
    bootstrapApiKey: values.BOOTSTRAP_API_KEY,
    rotationOverlapMs: values.API_KEY_ROTATION_OVERLAP_MS,
    cacheMs: values.API_KEY_CACHE_MS,
  }),
});
