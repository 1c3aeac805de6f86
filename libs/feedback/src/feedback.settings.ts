import { defineConfig, integer, MEBIBYTE, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface FeedbackListenerConfig {
  readonly host: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  /** How far a signed timestamp may be from the listener's clock, either way (ms). */
  readonly replayWindowMs: number;
}

/** The providers' webhook listener: where it listens and what it accepts. */
export const feedbackConfig = defineConfig({
  name: 'provider feedback',
  settings: {
    FEEDBACK_HOST: setting({
      description:
        "Address the providers' webhook listener binds to (POST /webhooks/<provider>). The listener runs only when at least one provider's webhook is configured.",
      schema: z.string().min(1).default('0.0.0.0'),
    }),
    FEEDBACK_PORT: setting({
      description: "Port of the providers' webhook listener; 0 picks a free port (logged at start).",
      schema: integer(0, 65535).default(8082),
    }),
    FEEDBACK_MAX_BODY_BYTES: setting({
      description:
        'Largest webhook body read; a larger one is refused with 413 as soon as the cap is passed.',
      schema: integer(1024, 64 * MEBIBYTE).default(MEBIBYTE),
    }),
    FEEDBACK_REPLAY_WINDOW_MS: setting({
      description:
        "How far a signed webhook's timestamp may be from the gateway's clock (either way) before it is refused as stale.",
      schema: integer(1000, 24 * 60 * 60 * 1000).default(5 * 60 * 1000),
    }),
  },
  build: (values): FeedbackListenerConfig => ({
    host: values.FEEDBACK_HOST,
    port: values.FEEDBACK_PORT,
    maxBodyBytes: values.FEEDBACK_MAX_BODY_BYTES,
    replayWindowMs: values.FEEDBACK_REPLAY_WINDOW_MS,
  }),
});
