import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface SesConfig {
  /** The SNS topics whose notifications are taken; any other topic is refused. */
  readonly topicArns: readonly string[];
}

const TOPIC_ARN = /^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

export const sesConfig = defineConfig({
  name: 'ses feedback',
  settings: {
    SES_SNS_TOPIC_ARNS: setting({
      description:
        'Feedback "ses": the SNS topic ARNs whose notifications /webhooks/ses takes, comma-separated (e.g. "arn:aws:sns:eu-west-1:123456789012:ses-feedback"). Empty: the endpoint refuses every notification.',
      schema: z
        .string()
        .optional()
        .transform((value) => (value ? [...new Set(value.split(',').map((arn) => arn.trim()))] : []))
        .refine((arns) => arns.every((arn) => TOPIC_ARN.test(arn)), {
          message: 'must be SNS topic ARNs, "arn:aws:sns:<region>:<account>:<topic>", comma-separated',
        }),
    }),
  },
  build: (values): SesConfig => ({ topicArns: values.SES_SNS_TOPIC_ARNS }),
});
