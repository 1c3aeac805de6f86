import type { Attachment, EmailAddress, Header, Mail, SendMailRequest } from '@mailgateway/contracts';
import { MailLimits, MailValidator, ValidationException } from './index';

const limits: MailLimits = {
  maxMessageBytes: 20_000,
  maxAttachmentBytes: 2_000,
  maxRecipients: 10,
  maxScheduleAheadMs: 86_400_000,
};

const mailbox = (address: string, name = ''): EmailAddress => ({ address, name });
const header = (name: string, value = 'v'): Header => ({ name, value });
const attachment = (overrides: Partial<Attachment> = {}): Attachment => ({
  fileName: 'report.pdf',
  contentType: 'application/pdf',
  content: new Uint8Array([1, 2, 3]),
  ...overrides,
});

// 18 + 15 + 5 + 6 = 44 bytes counted towards maxMessageBytes.
function validRequest(mail: Partial<Mail> = {}, idempotencyKey = ''): SendMailRequest {
  return {
    idempotencyKey,
    mail: {
      from: mailbox('sender@example.com'),
      to: [mailbox('ada@example.com')],
      cc: [],
      bcc: [],
      replyTo: [],
      subject: 'Hello',
      textBody: 'Hi Ada',
      htmlBody: '',
      headers: [],
      attachments: [],
      tags: [],
      metadata: {},
      ...mail,
    },
  };
}

function fullRequest(): SendMailRequest {
  return validRequest(
    {
      from: mailbox('no-reply@bücher.example', 'Bücherei — 図書館'),
      to: [mailbox('ada@example.com', 'Ada Lovelace'), mailbox('josé@例え.テスト', 'José Ñúñez')],
      cc: [mailbox("o'brien+tag@mail.example.co.uk", 'Ó Briain, Séamus')],
      bcc: [mailbox('audit@xn--bcher-kva.example')],
      replyTo: [mailbox('support@example.com', 'Support 🛟')],
      subject: 'Your order 🎉 ist unterwegs',
      textBody: 'Hello Ada,\r\nyour order is on its way.',
      htmlBody: '<p>Hello Ada,<br>your order is on its way.</p>',
      headers: [
        header('X-Campaign', 'spring-2025'),
        header('In-Reply-To', '<abc@example.com>'),
        header('References', '<abc@example.com> <def@example.com>'),
      ],
      attachments: [
        attachment(),
        attachment({
          fileName: 'Übersicht 2025.csv',
          contentType: 'text/csv',
          content: new Uint8Array(2_000),
        }),
      ],
      tags: ['order', 'shipping:v2', 'team_ops.eu-1'],
      metadata: { orderId: 'A-1001', 'trace.id': '4bf92f3577b34da6', customer_ref: 'Zoë' },
    },
    'order-1001:shipped',
  );
}

function thrownBy(action: () => void): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a ValidationException, but nothing was thrown');
}

function deepFreeze<T>(value: T): T {
  // Typed arrays with elements cannot be frozen; the equality check below still covers their bytes.
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

describe(MailValidator.name, () => {
  const sut = new MailValidator(limits);

  function expectRefused(request: SendMailRequest, field: string, reasonPart: string): void {
    const error = thrownBy(() => sut.validate(request));
    expect(error).toBeInstanceOf(ValidationException);
    const refusal = error as ValidationException;
    expect(refusal.field).toBe(field);
    expect(refusal.reason).toContain(reasonPart);
    expect(refusal.message).toBe(`${field}: ${refusal.reason}`);
    expect(refusal.name).toBe(ValidationException.name);
  }

  describe('accepted messages', () => {
    it('accepts a minimal message', () => {
      expect(() => sut.validate(validRequest())).not.toThrow();
    });

    it('accepts a full message with cc, bcc, reply_to, headers, attachments, tags, metadata, unicode names and IDN domains', () => {
      expect(() => sut.validate(fullRequest())).not.toThrow();
    });

    it('accepts an html-only body and cc-only or bcc-only recipients', () => {
      expect(() => sut.validate(validRequest({ textBody: '', htmlBody: '<p>Hi</p>' }))).not.toThrow();
      expect(() => sut.validate(validRequest({ to: [], cc: [mailbox('a@example.com')] }))).not.toThrow();
      expect(() => sut.validate(validRequest({ to: [], bcc: [mailbox('a@example.com')] }))).not.toThrow();
    });

    it('accepts every RFC 5322 atext character and a dotted local part', () => {
      const address = "a.b!#$%&'*+/=?^_`{|}~-z@example.com";
      expect(() => sut.validate(validRequest({ to: [mailbox(address)] }))).not.toThrow();
    });

    it('accepts values exactly at every limit', () => {
      const label63 = 'd'.repeat(63);
      const request = validRequest(
        {
          // 64 + 1 + 189 = 254 octets.
          to: [
            mailbox(`${'a'.repeat(64)}@${label63}.${label63}.${'c'.repeat(57)}.com`, 'n'.repeat(256)),
            ...Array.from({ length: 9 }, (_, i) => mailbox(`r${i}@example.com`)),
          ],
          subject: 's'.repeat(998),
          headers: Array.from({ length: 50 }, (_, i) =>
            header(`X-${'h'.repeat(72)}${String(i).padStart(2, '0')}`),
          ),
          tags: Array.from({ length: 10 }, (_, i) => `${'t'.repeat(63)}${i}`),
          metadata: Object.fromEntries(
            Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(i ? 1 : 1024)]),
          ),
        },
        '~'.repeat(255),
      );
      expect(() => sut.validate(request)).not.toThrow();
      expect(() =>
        sut.validate(
          validRequest({
            attachments: [
              attachment({ fileName: 'f'.repeat(255), content: new Uint8Array(limits.maxAttachmentBytes) }),
              ...Array.from({ length: 99 }, () => attachment({ content: new Uint8Array(1) })),
            ],
          }),
        ),
      ).not.toThrow();
    });

    it('counts display names and subjects in characters, not UTF-16 units', () => {
      expect(() => sut.validate(validRequest({ subject: '😀'.repeat(998) }))).not.toThrow();
      expect(() =>
        sut.validate(validRequest({ to: [mailbox('a@example.com', '😀'.repeat(256))] })),
      ).not.toThrow();
    });

    it('does not modify the request', () => {
      const request = fullRequest();
      const snapshot = structuredClone(request);
      deepFreeze(request);

      expect(() => sut.validate(request)).not.toThrow();
      expect(request).toEqual(snapshot);
    });

    it('does not modify a request it refuses', () => {
      const request = validRequest({ headers: [header('X-A'), header('Subject')] });
      const snapshot = structuredClone(request);
      deepFreeze(request);

      expectRefused(request, 'mail.headers[1].name', 'Subject');
      expect(request).toEqual(snapshot);
    });
  });

  describe('order of checks', () => {
    it('reports idempotency_key before a missing mail', () => {
      expectRefused({ mail: undefined, idempotencyKey: 'has space' }, 'idempotency_key', 'U+0020');
    });

    it('reports from before to', () => {
      expectRefused(validRequest({ from: mailbox('bad'), to: [mailbox('bad')] }), 'mail.from.address', '"@"');
    });

    it('reports an invalid bcc address before too many recipients', () => {
      const to = Array.from({ length: 20 }, (_, i) => mailbox(`r${i}@example.com`));
      expectRefused(validRequest({ to, bcc: [mailbox('bad')] }), 'mail.bcc[0].address', '"@"');
    });

    it('reports too many recipients before reply_to', () => {
      const to = Array.from({ length: 11 }, (_, i) => mailbox(`r${i}@example.com`));
      expectRefused(validRequest({ to, replyTo: [mailbox('bad')] }), 'mail.to', '11 recipients');
    });

    it('reports attachments before tags and tags before metadata', () => {
      expectRefused(
        validRequest({ attachments: [attachment({ fileName: '' })], tags: [''], metadata: { '': '' } }),
        'mail.attachments[0].file_name',
        'required',
      );
      expectRefused(validRequest({ tags: [''], metadata: { '': '' } }), 'mail.tags[0]', 'empty');
    });

    it('reports a field problem before the total size', () => {
      expectRefused(
        validRequest({ textBody: 'x'.repeat(limits.maxMessageBytes), tags: ['bad tag'] }),
        'mail.tags[0]',
        'U+0020',
      );
    });
  });

  describe('idempotency_key', () => {
    it('is optional', () => {
      expect(() => sut.validate(validRequest({}, ''))).not.toThrow();
    });

    it.each([
      ['too long', 'k'.repeat(256), 'idempotency_key is 256 characters; the limit is 255'],
      ['a space', 'order 1', 'U+0020'],
      ['a tab', 'order\t1', 'U+0009'],
      ['non-ASCII', 'commande-é', 'U+00E9'],
      ['DEL', 'order\x7f', 'U+007F'],
    ])('refuses %s', (_case, key, reason) => {
      expectRefused(validRequest({}, key), 'idempotency_key', reason);
    });
  });

  describe('mail', () => {
    it('is required', () => {
      expectRefused({ mail: undefined, idempotencyKey: '' }, 'mail', 'required');
    });
  });

  describe('from', () => {
    it('is required', () => {
      expectRefused(validRequest({ from: undefined }), 'mail.from.address', 'required');
    });

    it('refuses an empty address', () => {
      expectRefused(validRequest({ from: mailbox('') }), 'mail.from.address', 'required');
    });

    it('refuses an invalid address', () => {
      expectRefused(validRequest({ from: mailbox('sender@localhost') }), 'mail.from.address', 'two labels');
    });
  });

  describe('addresses', () => {
    const label63 = 'd'.repeat(63);

    it.each([
      ['no "@"', 'ada.example.com', 'address must contain "@"'],
      ['two "@"', 'ada@lovelace@example.com', 'contains 2 "@" characters; exactly one is allowed'],
      ['an empty local part', '@example.com', 'local part before "@" is empty'],
      ['an empty domain', 'ada@', 'domain after "@" is empty'],
      ['a quoted local part', '"ada.lovelace"@example.com', 'quoted local parts are not supported'],
      [
        'a quoted local part with a space',
        '"ada lovelace"@example.com',
        'quoted local parts are not supported',
      ],
      ['a leading dot', '.ada@example.com', 'must not start with "."'],
      ['a trailing dot', 'ada.@example.com', 'must not end with "."'],
      ['consecutive dots', 'ada..lovelace@example.com', 'consecutive dots'],
      ['a character outside atext', 'ada(x)@example.com', '"(" (U+0028), which is not allowed'],
      ['a comma', 'ada,bob@example.com', '"," (U+002C)'],
      [
        'a local part of 65 octets',
        `${'a'.repeat(65)}@example.com`,
        'local part is 65 octets; the limit is 64',
      ],
      [
        'a local part of 66 UTF-8 octets',
        `${'é'.repeat(33)}@example.com`,
        'local part is 66 octets; the limit is 64',
      ],
      [
        'an address of 255 octets',
        `${'a'.repeat(64)}@${label63}.${label63}.${'c'.repeat(58)}.com`,
        'address is 255 octets; the limit is 254',
      ],
      ['a space', 'ada lovelace@example.com', 'whitespace (U+0020 (space))'],
      ['a trailing space', 'ada@example.com ', 'whitespace'],
      ['a no-break space', 'ada\u00a0l@example.com', 'U+00A0'],
      ['a line separator', 'ada\u2028@example.com', 'U+2028'],
      ['CR LF (header injection)', 'ada@example.com\r\nBcc: eve@evil.example', 'U+000D (CR)'],
      ['LF', 'ada@example.com\nX: y', 'U+000A (LF)'],
      ['NUL', 'ada\0@example.com', 'U+0000 (NUL)'],
      ['NEL', 'ada\u0085@example.com', 'U+0085 (NEL)'],
      ['a single-label domain', 'ada@localhost', 'at least two labels'],
      ['an underscore in the domain', 'ada@exa_mple.com', 'may contain only letters, digits and hyphens'],
      ['a leading hyphen in a label', 'ada@-example.com', 'must not start or end with a hyphen'],
      ['a trailing hyphen in a label', 'ada@example-.com', 'must not start or end with a hyphen'],
      ['an empty label', 'ada@example..com', 'empty label'],
      ['a trailing dot in the domain', 'ada@example.com.', 'empty label'],
      ['a leading dot in the domain', 'ada@.example.com', 'empty label'],
      ['a 64-character label', `ada@${'d'.repeat(64)}.com`, 'is 64 characters; the limit is 63'],
      ['an all-numeric TLD', 'ada@example.123', 'top-level domain must not be all-numeric'],
      ['an IPv4 domain', 'ada@192.0.2.1', 'top-level domain must not be all-numeric'],
      ['a hex IPv4 domain', 'ada@0x7f.1', 'top-level domain must not be all-numeric'],
      ['an address literal', 'ada@[192.0.2.1]', 'address literals'],
      ['an IPv6 address literal', 'ada@[IPv6:2001:db8::1]', 'address literals'],
      ['a forbidden host character', 'ada@exa%mple.com', 'not a valid domain name'],
      ['an invalid punycode label', 'ada@xn--.com', 'not a valid domain name'],
    ])('refuses %s', (_case, address, reason) => {
      expectRefused(validRequest({ to: [mailbox(address)] }), 'mail.to[0].address', reason);
    });

    it('refuses an address whose ASCII form exceeds 254 octets', () => {
      // Each "ü." is 3 UTF-8 octets but 8 in ASCII form ("xn--tda."): 101 octets as given, 261 in ASCII.
      const address = `a@${'ü.'.repeat(32)}com`;
      expect(Buffer.byteLength(address)).toBe(101);
      expectRefused(validRequest({ to: [mailbox(address)] }), 'mail.to[0].address', 'in ASCII form');
    });

    it.each([
      [
        'to',
        { to: [mailbox('a@example.com'), mailbox('b@example.com'), mailbox('bad')] },
        'mail.to[2].address',
      ],
      ['cc', { cc: [mailbox('a@example.com'), mailbox('bad')] }, 'mail.cc[1].address'],
      ['bcc', { bcc: [mailbox('bad')] }, 'mail.bcc[0].address'],
      ['reply_to', { replyTo: [mailbox('a@example.com'), mailbox('bad')] }, 'mail.reply_to[1].address'],
    ])('names the failing %s entry', (_list, mail: Partial<Mail>, field) => {
      expectRefused(validRequest(mail), field, '"@"');
    });

    it('refuses an empty recipient address', () => {
      expectRefused(validRequest({ cc: [mailbox('')] }), 'mail.cc[0].address', 'address is required');
    });
  });

  describe('display names', () => {
    it.each([
      ['from', { from: mailbox('a@example.com', 'n'.repeat(257)) }, 'mail.from.name'],
      ['to', { to: [mailbox('a@example.com', 'n'.repeat(257))] }, 'mail.to[0].name'],
      [
        'cc',
        { cc: [mailbox('a@example.com'), mailbox('b@example.com', 'n'.repeat(257))] },
        'mail.cc[1].name',
      ],
      ['bcc', { bcc: [mailbox('a@example.com', 'n'.repeat(257))] }, 'mail.bcc[0].name'],
      ['reply_to', { replyTo: [mailbox('a@example.com', 'n'.repeat(257))] }, 'mail.reply_to[0].name'],
    ])('refuses a %s name longer than 256 characters', (_list, mail: Partial<Mail>, field) => {
      expectRefused(validRequest(mail), field, 'name is 257 characters; the limit is 256');
    });

    it.each([
      ['CR', 'Ada\rBcc: eve@evil.example', 'U+000D (CR)'],
      ['LF', 'Ada\nBcc: eve@evil.example', 'U+000A (LF)'],
      ['NUL', 'Ada\0', 'U+0000 (NUL)'],
      ['NEL', 'Ada\u0085', 'U+0085 (NEL)'],
      ['LINE SEPARATOR', 'Ada\u2028', 'U+2028 (LINE SEPARATOR)'],
      ['PARAGRAPH SEPARATOR', 'Ada\u2029', 'U+2029 (PARAGRAPH SEPARATOR)'],
    ])('refuses %s in a name', (_char, name, reason) => {
      expectRefused(
        validRequest({ replyTo: [mailbox('a@example.com', name)] }),
        'mail.reply_to[0].name',
        reason,
      );
    });
  });

  describe('recipients', () => {
    it('requires at least one recipient across to, cc and bcc', () => {
      expectRefused(validRequest({ to: [], cc: [], bcc: [] }), 'mail.to', 'at least one recipient');
    });

    it('does not count reply_to as a recipient', () => {
      expectRefused(
        validRequest({ to: [], replyTo: [mailbox('a@example.com')] }),
        'mail.to',
        'at least one recipient',
      );
    });

    it('refuses more than maxRecipients across to, cc and bcc', () => {
      const some = (prefix: string, count: number) =>
        Array.from({ length: count }, (_, i) => mailbox(`${prefix}${i}@example.com`));
      expectRefused(
        validRequest({ to: some('t', 4), cc: some('c', 4), bcc: some('b', 3) }),
        'mail.to',
        '11 recipients across to, cc and bcc; the limit is 10',
      );
    });
  });

  describe('subject', () => {
    it('may be empty', () => {
      expect(() => sut.validate(validRequest({ subject: '' }))).not.toThrow();
    });

    it('refuses more than 998 characters', () => {
      expectRefused(
        validRequest({ subject: 's'.repeat(999) }),
        'mail.subject',
        'subject is 999 characters; the limit is 998',
      );
    });

    it.each([
      ['CR', 'Hi\rBcc: x', 'U+000D'],
      ['LF', 'Hi\nBcc: x', 'U+000A'],
      ['NUL', 'Hi\0', 'U+0000'],
      ['NEL', 'Hi\u0085', 'U+0085'],
      ['LINE SEPARATOR', 'Hi\u2028', 'U+2028'],
      ['PARAGRAPH SEPARATOR', 'Hi\u2029', 'U+2029'],
    ])('refuses %s', (_char, subject, reason) => {
      expectRefused(validRequest({ subject }), 'mail.subject', reason);
    });
  });

  describe('bodies', () => {
    it('requires text_body or html_body', () => {
      expectRefused(
        validRequest({ textBody: '', htmlBody: '' }),
        'mail.text_body',
        'text_body or html_body is required',
      );
    });

    it('refuses NUL in text_body', () => {
      expectRefused(validRequest({ textBody: 'Hi\0' }), 'mail.text_body', 'NUL');
    });

    it('refuses NUL in html_body', () => {
      expectRefused(validRequest({ htmlBody: '<p>\0</p>' }), 'mail.html_body', 'NUL');
    });
  });

  describe('headers', () => {
    it('refuses more than 50 headers', () => {
      const headers = Array.from({ length: 51 }, (_, i) => header(`X-H${i}`));
      expectRefused(validRequest({ headers }), 'mail.headers', '51 headers; the limit is 50');
    });

    it.each([
      ['an empty name', '', 'header name is required'],
      [
        'a name longer than 76 characters',
        `X-${'h'.repeat(75)}`,
        'header name is 77 characters; the limit is 76',
      ],
      ['a colon', 'X-Bad:Name', '":" (U+003A)'],
      ['a space', 'X Bad', 'U+0020'],
      ['CR LF', 'X-A\r\nBcc', 'U+000D'],
      ['non-ASCII', 'X-Übersicht', 'U+00DC'],
      ['DEL', 'X-A\x7f', 'U+007F'],
    ])('refuses %s in a header name', (_case, name, reason) => {
      expectRefused(
        validRequest({ headers: [header('X-Ok'), header(name)] }),
        'mail.headers[1].name',
        reason,
      );
    });

    it.each([
      'From',
      'To',
      'Cc',
      'Bcc',
      'Reply-To',
      'Sender',
      'Subject',
      'Date',
      'Message-ID',
      'Return-Path',
      'Received',
      'MIME-Version',
      'Content-Type',
      'Content-Transfer-Encoding',
      'Content-Disposition',
      'Content-ID',
      'DKIM-Signature',
      'X-Mailgateway-Message-Id',
    ])('refuses the reserved header %s in any case', (name) => {
      for (const spelling of [name, name.toLowerCase(), name.toUpperCase()]) {
        expectRefused(
          validRequest({ headers: [header(spelling)] }),
          'mail.headers[0].name',
          `${name} is set by the gateway`,
        );
      }
    });

    it.each(['In-Reply-To', 'References', 'List-Unsubscribe'])('allows %s as a custom header', (name) => {
      expect(() => sut.validate(validRequest({ headers: [header(name, '<a@example.com>')] }))).not.toThrow();
    });

    it('refuses a duplicate name, case-insensitively', () => {
      expectRefused(
        validRequest({ headers: [header('X-Campaign'), header('X-Other'), header('x-CAMPAIGN')] }),
        'mail.headers[2].name',
        'repeats mail.headers[0]',
      );
    });

    it('allows an empty value', () => {
      expect(() => sut.validate(validRequest({ headers: [header('X-Empty', '')] }))).not.toThrow();
    });

    it('refuses a value longer than 998 characters', () => {
      expectRefused(
        validRequest({ headers: [header('X-A'), header('X-B', 'v'.repeat(999))] }),
        'mail.headers[1].value',
        'header value is 999 characters; the limit is 998',
      );
    });

    it.each([
      ['CR', 'a\rBcc: x', 'U+000D'],
      ['LF', 'a\nBcc: x', 'U+000A'],
      ['NUL', 'a\0', 'U+0000'],
      ['NEL', 'a\u0085', 'U+0085'],
      ['LINE SEPARATOR', 'a\u2028', 'U+2028'],
      ['PARAGRAPH SEPARATOR', 'a\u2029', 'U+2029'],
    ])('refuses %s in a value', (_char, value, reason) => {
      expectRefused(validRequest({ headers: [header('X-A', value)] }), 'mail.headers[0].value', reason);
    });
  });

  describe('attachments', () => {
    it('refuses more than 100 attachments', () => {
      const attachments = Array.from({ length: 101 }, () => attachment({ content: new Uint8Array(1) }));
      expectRefused(validRequest({ attachments }), 'mail.attachments', '101 attachments; the limit is 100');
    });

    it.each([
      ['a missing name', '', 'file_name is required'],
      [
        'a name longer than 255 characters',
        `${'f'.repeat(252)}.pdf`,
        'file_name is 256 characters; the limit is 255',
      ],
      ['CR', 'a\r.pdf', 'U+000D'],
      ['LF', 'a\n.pdf', 'U+000A'],
      ['NUL', 'a.pdf\0.exe', 'U+0000'],
      ['NEL', 'a\u0085.pdf', 'U+0085'],
      ['LINE SEPARATOR', 'a\u2028.pdf', 'U+2028'],
      ['PARAGRAPH SEPARATOR', 'a\u2029.pdf', 'U+2029'],
      ['a slash', '../etc/passwd', 'must not contain "/" or "\\"'],
      ['a backslash', 'C:\\temp\\a.pdf', 'must not contain "/" or "\\"'],
    ])('refuses %s in file_name', (_case, fileName, reason) => {
      expectRefused(
        validRequest({ attachments: [attachment(), attachment({ fileName })] }),
        'mail.attachments[1].file_name',
        reason,
      );
    });

    it.each([
      ['missing', '', 'content_type is required'],
      ['without a subtype', 'application', 'type/subtype'],
      ['with an empty subtype', 'application/', 'type/subtype'],
      ['with parameters', 'text/plain; charset=utf-8', 'without parameters'],
      ['with a space', 'text/ plain', 'type/subtype'],
      ['with two slashes', 'text/plain/x', 'type/subtype'],
      ['with a tspecial', 'text/pl@in', 'type/subtype'],
      ['with CR LF', 'text/plain\r\nX: y', 'type/subtype'],
    ])('refuses a content_type %s', (_case, contentType, reason) => {
      expectRefused(
        validRequest({ attachments: [attachment({ contentType })] }),
        'mail.attachments[0].content_type',
        reason,
      );
    });

    it.each([
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'image/svg+xml',
      'Text/CSV',
    ])('accepts the content_type %s', (contentType) => {
      expect(() => sut.validate(validRequest({ attachments: [attachment({ contentType })] }))).not.toThrow();
    });

    it('refuses empty content', () => {
      expectRefused(
        validRequest({ attachments: [attachment({ content: new Uint8Array(0) })] }),
        'mail.attachments[0].content',
        'content is empty',
      );
    });

    it('refuses content larger than maxAttachmentBytes', () => {
      expectRefused(
        validRequest({
          attachments: [attachment({ content: new Uint8Array(limits.maxAttachmentBytes + 1) })],
        }),
        'mail.attachments[0].content',
        'content is 2001 bytes; the limit is 2000',
      );
    });
  });

  describe('tags', () => {
    it('refuses more than 10 tags', () => {
      const tags = Array.from({ length: 11 }, (_, i) => `t${i}`);
      expectRefused(validRequest({ tags }), 'mail.tags', '11 tags; the limit is 10');
    });

    it.each([
      ['an empty tag', '', 'tag is empty'],
      ['a tag longer than 64 characters', 't'.repeat(65), 'tag is 65 characters; the limit is 64'],
      ['a space', 'bad tag', 'U+0020'],
      ['a slash', 'a/b', '"/" (U+002F)'],
      ['non-ASCII', 'café', 'U+00E9'],
    ])('refuses %s', (_case, tag, reason) => {
      expectRefused(validRequest({ tags: ['ok', tag] }), 'mail.tags[1]', reason);
    });
  });

  describe('metadata', () => {
    it('refuses more than 20 entries', () => {
      const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
      expectRefused(validRequest({ metadata }), 'mail.metadata', '21 entries; the limit is 20');
    });

    it.each([
      ['an empty key', '', 'mail.metadata[""]', 'metadata key is empty'],
      [
        'a key longer than 64 characters',
        'k'.repeat(65),
        `mail.metadata["${'k'.repeat(65)}"]`,
        'is 65 characters',
      ],
      ['a space in the key', 'order id', 'mail.metadata["order id"]', 'U+0020'],
      ['a colon in the key', 'order:id', 'mail.metadata["order:id"]', '":" (U+003A)'],
      ['a quote in the key', 'a"b', 'mail.metadata["a\\"b"]', '"\\"" (U+0022)'],
    ])('refuses %s', (_case, key, field, reason) => {
      expectRefused(validRequest({ metadata: { ok: 'v', [key]: 'v' } }), field, reason);
    });

    it('refuses a value longer than 1024 characters', () => {
      expectRefused(
        validRequest({ metadata: { orderId: 'v'.repeat(1025) } }),
        'mail.metadata["orderId"]',
        'metadata value is 1025 characters; the limit is 1024',
      );
    });

    it('allows an empty value', () => {
      expect(() => sut.validate(validRequest({ metadata: { orderId: '' } }))).not.toThrow();
    });

    it.each(['mailgateway_id', 'MailGateway_Id'])(
      'refuses the key the gateway tells providers its message id under (%s)',
      (key) => {
        expectRefused(
          validRequest({ metadata: { [key]: 'forged' } }),
          `mail.metadata["${key}"]`,
          'mailgateway_id is set by the gateway and cannot be a metadata key',
        );
      },
    );
  });

  describe('total size', () => {
    it('accepts a message of exactly maxMessageBytes', () => {
      const request = validRequest({ textBody: 'x'.repeat(limits.maxMessageBytes - 38) });
      expect(() => sut.validate(request)).not.toThrow();
    });

    it('refuses a message one byte over maxMessageBytes', () => {
      expectRefused(
        validRequest({ textBody: 'x'.repeat(limits.maxMessageBytes - 37) }),
        'mail',
        'message is 20001 bytes; the limit is 20000',
      );
    });

    it('counts UTF-8 bytes, not characters', () => {
      // 'é' is 2 bytes: 38 + 2 * 9_982 = 20_002.
      expectRefused(validRequest({ textBody: 'é'.repeat(9_982) }), 'mail', 'message is 20002 bytes');
    });

    it.each<[string, Partial<Mail>]>([
      ['html_body', { htmlBody: 'x'.repeat(limits.maxMessageBytes) }],
      ['headers', { headers: Array.from({ length: 25 }, (_, i) => header(`X-${i}`, 'v'.repeat(998))) }],
      [
        'attachments',
        {
          attachments: Array.from({ length: 11 }, () =>
            attachment({ content: new Uint8Array(limits.maxAttachmentBytes) }),
          ),
        },
      ],
      [
        'metadata',
        { metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(1024)])) },
      ],
      [
        'display names and addresses',
        {
          to: Array.from({ length: 10 }, (_, i) => mailbox(`r${i}@example.com`, 'n'.repeat(256))),
          replyTo: Array.from({ length: 80 }, (_, i) => mailbox(`reply${i}@example.com`, 'n'.repeat(256))),
        },
      ],
    ])('counts %s towards the total', (_part, mail) => {
      expectRefused(validRequest(mail), 'mail', 'the limit is 20000');
    });

    it('counts tags, subject, attachment names and content types towards the total', () => {
      // 39 base + subject 998 + 10 tags of 64 = 1677 bytes; 56 attachments add 255 + 76 + 1 bytes each.
      // Leaving out any one of those parts would bring the total under the limit.
      const request = validRequest({
        subject: 's'.repeat(998),
        tags: Array.from({ length: 10 }, (_, i) => `${'t'.repeat(63)}${i}`),
        attachments: Array.from({ length: 56 }, () =>
          attachment({
            fileName: 'f'.repeat(255),
            contentType: `application/${'x'.repeat(64)}`,
            content: new Uint8Array(1),
          }),
        ),
      });
      expectRefused(request, 'mail', 'message is 20269 bytes; the limit is 20000');
    });
  });
});
