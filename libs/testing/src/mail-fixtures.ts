import type { Mail, SendMailRequest } from '@mailgateway/contracts';
import type { OutboundMessage } from '@mailgateway/delivery';

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

/**
 * aMail with every optional field filled: a cc, a bcc without a display name, a reply-to, an HTML
 * body, two headers, a PDF attachment, two tags and metadata. What a driver's mapping test sends.
 */
export function aFullMail(overrides: Partial<Mail> = {}): Mail {
  return aMail({
    cc: [{ address: 'grace@example.org', name: 'Grace Hopper' }],
    bcc: [{ address: 'audit@example.com', name: '' }],
    replyTo: [{ address: 'help@example.com', name: 'Help Desk' }],
    htmlBody: '<p>Hello Ada</p>',
    headers: [
      { name: 'X-Campaign', value: 'march' },
      { name: 'X-Priority', value: '1' },
    ],
    attachments: [
      { fileName: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7') },
    ],
    tags: ['invoice', 'march'],
    metadata: { customer: '42' },
    ...overrides,
  });
}

/** What the dispatcher hands a driver: attempt 1 of message-1, idempotency key key-1, aMail(). */
export function anOutboundMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return { id: 'message-1', attempt: 1, idempotencyKey: 'key-1', mail: aMail(), ...overrides };
}
