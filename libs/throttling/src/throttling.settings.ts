import { defineConfig, integer, setting, Setting } from '@mailgateway/config';
import { z } from 'zod';
import { RATE_LIMIT_POLICIES } from './rate-limit-policies';
import type { RedisRateLimitOptions } from './redis-rate-limit.storage';

export interface ThrottlingConfig {
  readonly windowMs: number;
  /** Each policy's configured limit, by policy name. */
  readonly limits: Readonly<Record<string, number>>;
  /** Shared counters; in-process counters when absent. */
  readonly redis?: RedisRateLimitOptions;
}

const policySettings: Record<string, Setting<number>> = Object.fromEntries(
  RATE_LIMIT_POLICIES.map((policy) => [policy.variable, policy.setting]),
);

export const throttlingConfig = defineConfig({
  name: 'throttling',
  settings: {
    RATE_LIMIT_WINDOW_MS: setting({
      description: 'Length of the fixed window the message limits count in.',
      schema: integer(100, 86_400_000).default(60_000),
    }),
    ...policySettings,
    REDIS_URL: setting({
      description:
        'Redis for rate-limit counters shared by every replica (redis:// or rediss://). When unset, counters live in this process.',
      schema: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional(),
      sensitive: true,
    }),
    REDIS_KEY_PREFIX: setting({
      description: 'Prefix of every Redis key the gateway writes.',
      schema: z.string().min(1).max(100).default('mailgateway:'),
    }),
    REDIS_COMMAND_TIMEOUT_MS: setting({
      description: 'How long a rate-limit check waits for Redis before treating it as unreachable.',
      schema: integer(10, 10_000).default(200),
    }),
    RATE_LIMIT_ON_REDIS_FAILURE: setting({
      description:
        'When Redis is unreachable: "open" lets calls through unthrottled (and logs it), "closed" refuses them with UNAVAILABLE.',
      schema: z.enum(['open', 'closed']).default('open'),
    }),
  },
  build: (values): ThrottlingConfig => ({
    windowMs: values.RATE_LIMIT_WINDOW_MS,
    limits: Object.fromEntries(
      RATE_LIMIT_POLICIES.map((policy) => [
        policy.name,
        (values as Record<string, unknown>)[policy.variable] as number,
      ]),
    ),
    redis: values.REDIS_URL
      ? {
          url: values.REDIS_URL,
          keyPrefix: values.REDIS_KEY_PREFIX,
          commandTimeoutMs: values.REDIS_COMMAND_TIMEOUT_MS,
          onFailure: values.RATE_LIMIT_ON_REDIS_FAILURE,
        }
      : undefined,
  }),
});
