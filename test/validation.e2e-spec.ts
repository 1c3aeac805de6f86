import { status } from '@grpc/grpc-js';
import type { Mail, SendMailRequest } from '@mailgateway/contracts';
import { aMail, DATABASE_KINDS } from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests } from './support/test-gateway';

const address = (value: string, name = '') => ({ address: value, name });
const file = (overrides: Partial<Mail['attachments'][number]> = {}) => ({
  fileName: 'report.pdf',
  contentType: 'application/pdf',
  content: Buffer.from('%PDF-1.7'),
  ...overrides,
});

/** One case per rule: what the caller sends, and the field the refusal must name. */
const REFUSALS: [string, SendMailRequest, string][] = [
  ['no mail at all', { mail: undefined, idempotencyKey: '' }, 'mail'],
  ['no sender', { mail: aMail({ from: undefined }), idempotencyKey: '' }, 'mail.from.address'],
  [
    'a sender without @',
    { mail: aMail({ from: address('billing.example.com') }), idempotencyKey: '' },
    'mail.from.address',
  ],
  ['no recipient', { mail: aMail({ to: [] }), idempotencyKey: '' }, 'mail.to'],
  [
    'too many recipients',
    {
      mail: aMail({ to: Array.from({ length: 51 }, (_, i) => address(`r${i}@example.org`)) }),
      idempotencyKey: '',
    },
    'mail.to',
  ],
  [
    'a 65-octet local part',
    { mail: aMail({ to: [address(`${'a'.repeat(65)}@example.org`)] }), idempotencyKey: '' },
    'mail.to[0].address',
  ],
  [
    'a 261-octet address',
    {
      mail: aMail({ cc: [address(`a@${Array(4).fill('b'.repeat(63)).join('.')}.org`)] }),
      idempotencyKey: '',
    },
    'mail.cc[0].address',
  ],
  [
    'a domain without a dot',
    { mail: aMail({ bcc: [address('ops@localhost')] }), idempotencyKey: '' },
    'mail.bcc[0].address',
  ],
  [
    'a quoted local part',
    { mail: aMail({ to: [address('"a b"@example.org')] }), idempotencyKey: '' },
    'mail.to[0].address',
  ],
  [
    'CR LF in a display name',
    { mail: aMail({ to: [address('ada@example.org', 'Ada\r\nBcc: eve@evil.test')] }), idempotencyKey: '' },
    'mail.to[0].name',
  ],
  [
    'a bad reply-to',
    { mail: aMail({ replyTo: [address('nobody')] }), idempotencyKey: '' },
    'mail.reply_to[0].address',
  ],
  [
    'LF in the subject',
    { mail: aMail({ subject: 'Hi\nBcc: eve@evil.test' }), idempotencyKey: '' },
    'mail.subject',
  ],
  ['NUL in the subject', { mail: aMail({ subject: 'Hi\u0000' }), idempotencyKey: '' }, 'mail.subject'],
  [
    'a Unicode line separator in the subject',
    { mail: aMail({ subject: 'Hi\u2028there' }), idempotencyKey: '' },
    'mail.subject',
  ],
  [
    'a 999-character subject',
    { mail: aMail({ subject: 's'.repeat(999) }), idempotencyKey: '' },
    'mail.subject',
  ],
  ['no body', { mail: aMail({ textBody: '', htmlBody: '' }), idempotencyKey: '' }, 'mail.text_body'],
  [
    'a header name with a colon',
    { mail: aMail({ headers: [{ name: 'X-A:b', value: 'v' }] }), idempotencyKey: '' },
    'mail.headers[0].name',
  ],
  [
    'CR in a header value',
    {
      mail: aMail({ headers: [{ name: 'X-Campaign', value: 'a\rBcc: eve@evil.test' }] }),
      idempotencyKey: '',
    },
    'mail.headers[0].value',
  ],
  [
    'Bcc as a custom header',
    { mail: aMail({ headers: [{ name: 'bcc', value: 'eve@evil.test' }] }), idempotencyKey: '' },
    'mail.headers[0].name',
  ],
  [
    'Message-ID as a custom header',
    {
      mail: aMail({
        headers: [
          { name: 'X-Ok', value: '1' },
          { name: 'Message-Id', value: '<1@x>' },
        ],
      }),
      idempotencyKey: '',
    },
    'mail.headers[1].name',
  ],
  [
    'an attachment without a name',
    { mail: aMail({ attachments: [file({ fileName: '' })] }), idempotencyKey: '' },
    'mail.attachments[0].file_name',
  ],
  [
    'a path in an attachment name',
    { mail: aMail({ attachments: [file({ fileName: '../etc/passwd' })] }), idempotencyKey: '' },
    'mail.attachments[0].file_name',
  ],
  [
    'a malformed content type',
    { mail: aMail({ attachments: [file({ contentType: 'pdf' })] }), idempotencyKey: '' },
    'mail.attachments[0].content_type',
  ],
  [
    'an empty attachment',
    { mail: aMail({ attachments: [file({ content: Buffer.alloc(0) })] }), idempotencyKey: '' },
    'mail.attachments[0].content',
  ],
  [
    'an attachment over MAX_ATTACHMENT_BYTES',
    { mail: aMail({ attachments: [file({ content: Buffer.alloc(4097) })] }), idempotencyKey: '' },
    'mail.attachments[0].content',
  ],
  [
    'a message over MAX_MESSAGE_BYTES',
    { mail: aMail({ textBody: 'x'.repeat(9000) }), idempotencyKey: '' },
    'mail',
  ],
  ['a tag with a space', { mail: aMail({ tags: ['two words'] }), idempotencyKey: '' }, 'mail.tags[0]'],
  [
    'a metadata key with a space',
    { mail: aMail({ metadata: { 'a b': '1' } }), idempotencyKey: '' },
    'mail.metadata["a b"]',
  ],
  ['an idempotency key with a space', { mail: aMail(), idempotencyKey: 'a b' }, 'idempotency_key'],
];

describe.each(DATABASE_KINDS)('Validation over gRPC on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { MAX_MESSAGE_BYTES: '8192', MAX_ATTACHMENT_BYTES: '4096' });

  it.each(REFUSALS)(
    'refuses %s with INVALID_ARGUMENT naming the field, storing nothing',
    async (_rule, request, field) => {
      const error = await expectGrpcError(gateway.client.sendMail(request), status.INVALID_ARGUMENT);
      expect(error.details.startsWith(`${field}: `)).toBe(true);
      expect(await gateway.count('outbox_message')).toBe(0);
    },
  );

  it('refuses the same requests item by item in a batch, naming each field', async () => {
    const { results } = await gateway.client.sendMailBatch({ items: REFUSALS.map(([, request]) => request) });
    expect(results.map((result) => result.rejected?.field)).toEqual(REFUSALS.map(([, , field]) => field));
    expect(await gateway.count('outbox_message')).toBe(0);
  });
});
