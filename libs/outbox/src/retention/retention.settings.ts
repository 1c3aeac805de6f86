import { defineConfig, integer, setting } from '@mailgateway/config';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The longest retention anyone may ask for: ten years. */
export const MAX_RETENTION_MS = 3650 * DAY_MS;
/** The shortest history retention: an hour, so a caller can still read what became of its mail. */
export const MIN_HISTORY_RETENTION_MS = HOUR_MS;

export interface RetentionConfig {
  /** How long a final message keeps its content; 0: shredded at once. */
  readonly bodyRetentionMs: number;
  /** How long a final message (status, events, recipients) is kept before it is deleted. */
  readonly historyRetentionMs: number;
  readonly intervalMs: number;
  readonly batchSize: number;
}

export const retentionConfig = defineConfig({
  name: 'retention',
  settings: {
    BODY_RETENTION_MS: setting({
      description:
        "How long a final message (delivered, failed, expired, cancelled, suppressed) keeps its content (subject, bodies, attachments, headers) after it became final; then the content is destroyed and GetMessage shows content_shredded_at. 0 destroys it at once. A source's policy.body_retention_seconds overrides it. At most HISTORY_RETENTION_MS.",
      schema: integer(0, MAX_RETENTION_MS).default(7 * DAY_MS),
    }),
    HISTORY_RETENTION_MS: setting({
      description:
        "How long a final message's status, events and per-recipient outcomes are kept after it became final; then the message and its events are deleted (GetMessage answers NOT_FOUND, its idempotency key is free again, event-feed cursors behind them are OUT_OF_RANGE). Processed provider notifications go with the message they name, and at the latest this long after they were processed. A source's policy.history_retention_seconds overrides it. At least an hour.",
      schema: integer(MIN_HISTORY_RETENTION_MS, MAX_RETENTION_MS).default(90 * DAY_MS),
    }),
    RETENTION_INTERVAL_MS: setting({
      description:
        'How often each replica looks for content to shred and rows to delete, when the last round found less than a full batch (a full batch is followed by the next at once).',
      schema: integer(100, DAY_MS).default(60_000),
    }),
    RETENTION_BATCH_SIZE: setting({
      description:
        'Rows one retention batch shreds or deletes, each batch in its own short transaction (replicas take different rows). Small batches keep locks and the write-ahead log of each commit small.',
      schema: integer(1, 10_000).default(500),
    }),
  },
  check: (values) =>
    values.BODY_RETENTION_MS > values.HISTORY_RETENTION_MS
      ? [
          `BODY_RETENTION_MS: ${values.BODY_RETENTION_MS} is longer than HISTORY_RETENTION_MS (${values.HISTORY_RETENTION_MS}): content cannot outlive its message`,
        ]
      : [],
  build: (values): RetentionConfig => ({
    bodyRetentionMs: values.BODY_RETENTION_MS,
    historyRetentionMs: values.HISTORY_RETENTION_MS,
    intervalMs: values.RETENTION_INTERVAL_MS,
    batchSize: values.RETENTION_BATCH_SIZE,
  }),
});
