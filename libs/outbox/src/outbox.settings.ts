import { defineConfig, integer, setting } from '@mailgateway/config';

export interface OutboxConfig {
  readonly maxQueuedMessages: number;
  readonly messageMaxAgeMs: number;
}

export const outboxConfig = defineConfig({
  name: 'outbox',
  settings: {
    OUTBOX_MAX_QUEUED_MESSAGES: setting({
      description:
        'Most messages waiting for the next outbox commit in one process. Past it, SendMail and SendMailBatch are refused at once with RESOURCE_EXHAUSTED and a retry delay, so an overload cannot grow memory or latency without bound.',
      schema: integer(500, 1_000_000).default(5_000),
    }),
    MESSAGE_MAX_AGE_MS: setting({
      description:
        'A message not delivered this long after it was due (accepted, or its send_at when scheduled) is marked expired.',
      schema: integer(1_000, 30 * 86_400_000).default(86_400_000),
    }),
  },
  build: (values): OutboxConfig => ({
    maxQueuedMessages: values.OUTBOX_MAX_QUEUED_MESSAGES,
    messageMaxAgeMs: values.MESSAGE_MAX_AGE_MS,
  }),
});
