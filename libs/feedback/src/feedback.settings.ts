import { defineConfig, integer, setting } from '@mailgateway/config';

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
