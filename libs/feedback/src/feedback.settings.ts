import { defineConfig, integer, MEBIBYTE, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface FeedbackProcessingConfig {
  readonly matchWindowMs: number;
  readonly processIntervalMs: number;
  /** 0: soft bounces never suppress. */
  readonly softBounceLimit: number;
}

export interface FeedbackConfig {
  readonly processing: FeedbackProcessingConfig;
}

export const feedbackConfig = defineConfig({
  name: 'feedback',
  settings: {
    // Processing: stored notifications applied to their messages' recipients.
    FEEDBACK_MATCH_WINDOW_MS: setting({
      description:
        "How long after it arrived a notification that matches no message is tried again (it may come before the delivery recorded the provider's id for the message); after that it is kept as unmatched and never applied.",
      schema: integer(1_000, 30 * 86_400_000).default(86_400_000),
    }),
    FEEDBACK_PROCESS_INTERVAL_MS: setting({
      description:
        'How often each gateway process looks for stored provider notifications due for processing, when the last look found fewer than a batch.',
      schema: integer(10, 600_000).default(1_000),
    }),
    SUPPRESSION_SOFT_BOUNCE_LIMIT: setting({
      description:
        'Soft bounces of one address, on as many different messages with no delivery to it in between, that put it on the suppression list (reason soft_bounces, every source). 0: soft bounces never suppress.',
      schema: integer(0, 100).default(3),
    }),
  },
  build: (values): FeedbackConfig => ({
    processing: {
      matchWindowMs: values.FEEDBACK_MATCH_WINDOW_MS,
      processIntervalMs: values.FEEDBACK_PROCESS_INTERVAL_MS,
      softBounceLimit: values.SUPPRESSION_SOFT_BOUNCE_LIMIT,
    },
  }),
});

export interface FeedbackListenerConfig {
  readonly host: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  /** How far a signed timestamp may be from the listener's clock, either way (ms). */
  readonly replayWindowMs: number;
}

/** The providers' webhook listener: where it listens and what it accepts. */
export const feedbackListenerConfig = defineConfig({
  name: 'provider feedback listener',
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
