import type { Mail, SendMailRequest } from '@mailgateway/contracts';

/** A valid message with every list empty; override what a test is about. */
export function aMail(overrides: Partial<Mail> = {}): Mail {
  return {
    from: { address: 'billing@example.com', name: 'Billing' },
    to: [{ address: 'ada@example.org', name: 'Ada Lovelace' }],
    cc: [],
    bcc: [],
    replyTo: [],
    subject: 'Your invoice',
    textBody: 'Hello Ada, your invoice is attached.',
    htmlBody: '',
    headers: [],
    attachments: [],
    tags: [],
    metadata: {},
    ...overrides,
  };
}

export function aSendMailRequest(overrides: Partial<Mail> = {}, idempotencyKey = ''): SendMailRequest {
  return { mail: aMail(overrides), idempotencyKey };
}
