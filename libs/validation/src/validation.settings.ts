import { defineConfig, integer, MEBIBYTE, setting } from '@mailgateway/config';
import type { MailLimits } from './mail-validator';

/** The most items one SendMailBatch call may carry (part of the contract). */
export const MAX_BATCH_ITEMS = 500;

export interface ValidationConfig extends MailLimits {
  readonly maxBatchItems: number;
}

export const validationConfig = defineConfig({
  name: 'validation',
  settings: {
    MAX_MESSAGE_BYTES: setting({
      description:
        'Largest accepted message: bodies, headers and attachments together. The gRPC receive limit follows it.',
      schema: integer(1024, 64 * MEBIBYTE).default(10 * MEBIBYTE),
    }),
    MAX_ATTACHMENT_BYTES: setting({
      description: 'Largest single attachment.',
      schema: integer(1, 64 * MEBIBYTE).default(7 * MEBIBYTE),
    }),
    MAX_RECIPIENTS: setting({
      description: 'Most recipients (to + cc + bcc) in one message.',
      schema: integer(1, 1000).default(50),
    }),
    SCHEDULE_MAX_AHEAD_MS: setting({
      description:
        'How far ahead send_at may lie (SendMail, SendMailBatch, RescheduleMessage); later is refused with INVALID_ARGUMENT.',
      schema: integer(60_000, 366 * 86_400_000).default(30 * 86_400_000),
    }),
  },
  build: (values): ValidationConfig => ({
    maxMessageBytes: values.MAX_MESSAGE_BYTES,
    maxAttachmentBytes: values.MAX_ATTACHMENT_BYTES,
    maxRecipients: values.MAX_RECIPIENTS,
    maxScheduleAheadMs: values.SCHEDULE_MAX_AHEAD_MS,
    maxBatchItems: MAX_BATCH_ITEMS,
  }),
  check: (values) =>
    values.MAX_ATTACHMENT_BYTES > values.MAX_MESSAGE_BYTES
      ? ['MAX_ATTACHMENT_BYTES: must not exceed MAX_MESSAGE_BYTES']
      : [],
});
