import { randomBytes } from 'node:crypto';
import type { Mail } from '@mailgateway/contracts';
import { aMail } from './mail-fixtures';

/**
 * Values for every field of a message that must never reach a log line, an error or a metric: each
 * names its field and carries `marker`, so that a hit names its leak. The addresses' canaries are
 * their local parts; the idempotency key is a prefix (see canaryKeys).
 */
export function mailCanaries(marker = randomBytes(4).toString('hex')) {
  return {
    subject: `canary-subject-${marker}`,
    textBody: `canary-text-${marker}`,
    htmlBody: `canary-html-${marker}`,
    attachmentName: `canary-file-${marker}.txt`,
    attachmentContent: `canary-attachment-${marker}`,
    headerValue: `canary-header-${marker}`,
    metadataValue: `canary-metadata-${marker}`,
    recipientName: `canary-name-${marker}`,
    fromAddress: `canary-from-${marker}`,
    toAddress: `canary-to-${marker}`,
    ccAddress: `canary-cc-${marker}`,
    bccAddress: `canary-bcc-${marker}`,
    replyToAddress: `canary-reply-${marker}`,
    idempotencyKey: `canary-key-${marker}`,
    tag: `canary-tag-${marker}`,
  };
}

export type MailCanaries = ReturnType<typeof mailCanaries>;

/** A valid message with a canary in every field; override what a test is about. */
export function aCanaryMail(canaries: MailCanaries, overrides: Partial<Mail> = {}): Mail {
  return aMail({
    from: { address: `${canaries.fromAddress}@example.com`, name: 'Billing' },
    to: [{ address: `${canaries.toAddress}@example.org`, name: canaries.recipientName }],
    cc: [{ address: `${canaries.ccAddress}@example.org`, name: '' }],
    bcc: [{ address: `${canaries.bccAddress}@example.org`, name: '' }],
    replyTo: [{ address: `${canaries.replyToAddress}@example.com`, name: '' }],
    tags: [canaries.tag],
    subject: canaries.subject,
    textBody: canaries.textBody,
    htmlBody: `<p>${canaries.htmlBody}</p>`,
    headers: [{ name: 'X-Campaign', value: canaries.headerValue }],
    metadata: { note: canaries.metadataValue },
    attachments: [
      {
        fileName: canaries.attachmentName,
        contentType: 'text/plain',
        content: Buffer.from(canaries.attachmentContent),
      },
    ],
    ...overrides,
  });
}

/** Send options with an idempotency key of its own for every call, each starting with the canary. */
export function canaryKeys(canaries: MailCanaries): () => { idempotencyKey: string } {
  let sent = 0;
  return () => ({ idempotencyKey: `${canaries.idempotencyKey}-${++sent}` });
}

/** The names of the canaries that `text` holds, as written or in base64. */
export function leakedCanaries(canaries: Readonly<Record<string, string>>, text: string): string[] {
  return Object.entries(canaries)
    .filter(([, value]) => text.includes(value) || text.includes(Buffer.from(value).toString('base64')))
    .map(([name]) => name);
}
