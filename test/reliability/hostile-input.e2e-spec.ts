import { randomUUID } from 'node:crypto';
import { Client, credentials, Metadata, ServiceError, status } from '@grpc/grpc-js';
import type { Mail } from '@mailgateway/contracts';
import { MimeRenderer } from '@mailgateway/delivery';
import { OutcomeLedger, TEST_API_KEY } from '@mailgateway/testing';
import { MailValidator, ValidationException } from '@mailgateway/validation';
import * as fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { gatewayForAllTests } from '../support/test-gateway';
import { sized } from './reliability-scale';

const GENERATED = sized(10_000, 100_000);
const OVER_GRPC = sized(300, 2_000);
const RAW_FRAMES = sized(300, 2_000);
const LIMITS = {
  maxMessageBytes: 64 * 1024,
  maxAttachmentBytes: 8 * 1024,
  maxRecipients: 5,
  maxScheduleAheadMs: 86_400_000,
};

const INJECTIONS = [
  '\r',
  '\n',
  '\r\n',
  '\0',
  '\u0085',
  '\u2028',
  '\u2029',
  '\r\nBcc: attacker@evil.example',
  '\nBcc: attacker@evil.example',
  'Bcc: attacker@evil.example',
  '\r\nX-Injected: yes',
  '\r\n\r\n<html>body</html>',
  ', attacker@evil.example',
  '<attacker@evil.example>',
  '"',
  ';',
  ':',
  '=?utf-8?q?=0D=0ABcc:_x@evil.example?=',
];

const BREAKS = new Set(['\r', '\n', '\0', '\u0085', '\u2028', '\u2029']);
const spliced = (parts: readonly string[]) =>
  fc
    .array(fc.oneof(fc.constantFrom(...parts), fc.string({ maxLength: 12, unit: 'grapheme' })), {
      minLength: 1,
      maxLength: 6,
    })
    .map((pieces) => pieces.join(''));

/**
 * Mostly ordinary text (so that most messages are valid and get rendered), then header syntax that
 * must stay inside its field, then line breaks, NUL and Unicode separators, then lengths just
 * under and over `maxLength`.
 */
const hostileText = (maxLength: number) =>
  fc.oneof(
    { weight: 30, arbitrary: fc.string({ maxLength: Math.min(maxLength, 40), unit: 'grapheme' }) },
    {
      weight: 3,
      arbitrary: spliced(INJECTIONS.filter((part) => ![...part].some((char) => BREAKS.has(char)))),
    },
    { weight: 1, arbitrary: spliced(INJECTIONS) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: maxLength - 2, max: maxLength + 2 }).map((n) => 'x'.repeat(n)),
    },
  );

const localPart = fc.oneof(
  { weight: 100, arbitrary: fc.stringMatching(/^[a-z0-9]{1,10}([.+_-][a-z0-9]{1,10}){0,2}$/) },
  { weight: 1, arbitrary: fc.integer({ min: 62, max: 70 }).map((n) => 'l'.repeat(n)) },
  { weight: 1, arbitrary: hostileText(20) },
);
const domain = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('example.com', 'example.org', 'mail.example.net', 'bücher.example'),
  },
  // Long domains take the whole address past 254 octets.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 3, max: 5 }).map((labels) => `${'d'.repeat(60)}.`.repeat(labels) + 'com'),
  },
  { weight: 1, arbitrary: hostileText(20) },
);
const address = fc.tuple(localPart, domain).map(([local, host]) => `${local}@${host}`);
const mailbox = fc.record({ address, name: hostileText(256) });

const headerName = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('X-Campaign', 'X-Tag', 'List-Unsubscribe', 'X-Note') },
  { weight: 1, arbitrary: fc.constantFrom('Bcc', 'Subject', 'X-Bad Name', 'X:Colon') },
  { weight: 1, arbitrary: hostileText(76) },
);
const attachment = fc.record({
  fileName: fc.oneof(fc.constantFrom('invoice.pdf', 'a.txt'), hostileText(255)),
  contentType: fc.constantFrom(
    'application/pdf',
    'text/plain',
    'text/plain; charset=utf-8',
    'bad',
    'text/plain\r\nBcc: x',
  ),
  content: fc.oneof(
    { weight: 30, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: LIMITS.maxAttachmentBytes - 1, max: LIMITS.maxAttachmentBytes + 1 })
        .map((n) => new Uint8Array(n)),
    },
  ),
});

const hostileMail: fc.Arbitrary<Mail> = fc.record({
  from: mailbox,
  to: fc.array(mailbox, { minLength: 1, maxLength: 3 }),
  cc: fc.array(mailbox, { maxLength: 2 }),
  bcc: fc.array(mailbox, { maxLength: 1 }),
  replyTo: fc.array(mailbox, { maxLength: 1 }),
  subject: hostileText(998),
  textBody: hostileText(200),
  htmlBody: fc.constantFrom('', '<p>Hello</p>'),
  headers: fc.uniqueArray(fc.record({ name: headerName, value: hostileText(998) }), {
    maxLength: 2,
    selector: (header) => header.name.toLowerCase(),
  }),
  attachments: fc.array(attachment, { maxLength: 2 }),
  tags: fc.constant([]),
  metadata: fc.constant({}),
});

/** What must be refused, computed without the validator: a length or size limit is crossed. */
function overLimit(mail: Mail): string | undefined {
  const octets = (text: string) => Buffer.byteLength(text, 'utf8');
  const chars = (text: string) => [...text].length;
  for (const { address: value } of [mail.from!, ...mail.to, ...mail.cc, ...mail.bcc, ...mail.replyTo]) {
    const [local] = value.split('@');
    if (octets(local) > 64) return 'local part over 64 octets';
    if (octets(value) > 254) return 'address over 254 octets';
  }
  if (mail.to.length + mail.cc.length + mail.bcc.length > LIMITS.maxRecipients) return 'too many recipients';
  if (chars(mail.subject) > 998) return 'subject over 998 characters';
  if (mail.headers.some(({ value }) => chars(value) > 998)) return 'header line over 998 characters';
  if (mail.attachments.some(({ content }) => content.byteLength > LIMITS.maxAttachmentBytes)) {
    return 'attachment over the limit';
  }
  return undefined;
}

/** Headers the rendered message may carry: what the gateway writes and the custom ones given. */
function allowedHeaders(mail: Mail): Set<string> {
  return new Set([
    'from',
    'to',
    'cc',
    'reply-to',
    'subject',
    'message-id',
    // The gateway's own, for matching provider feedback (callers may not set it).
    'x-mailgateway-message-id',
    'date',
    'mime-version',
    'content-type',
    'content-transfer-encoding',
    ...mail.headers.map(({ name }) => name.toLowerCase()),
  ]);
}

// Scenario 8: property-based hostile input, rendered to MIME and parsed back.
describe('Reliability: hostile input', () => {
  const gateway = gatewayForAllTests('sqlite', {
    DELIVERY_ENABLED: 'false',
    MAX_MESSAGE_BYTES: String(LIMITS.maxMessageBytes),
    MAX_ATTACHMENT_BYTES: String(LIMITS.maxAttachmentBytes),
    MAX_RECIPIENTS: String(LIMITS.maxRecipients),
  });

  it(
    `lets no header through and refuses every over-limit value in ${GENERATED} generated messages`,
    async () => {
      const validator = new MailValidator(LIMITS);
      const renderer = new MimeRenderer('gateway.example');
      const figures = {
        generated: 0,
        accepted: 0,
        refused: 0,
        overLimit: 0,
        overLimitAccepted: 0,
        injectedHeaders: 0,
        smuggledRecipients: 0,
      };
      const refusedFields = new Map<string, number>();
      const samples = fc.sample(hostileMail, { numRuns: GENERATED, seed: 20261121 });
      for (const mail of samples) {
        figures.generated++;
        const limit = overLimit(mail);
        if (limit) figures.overLimit++;
        try {
          validator.validate({ mail, idempotencyKey: '' });
        } catch (error) {
          if (!(error instanceof ValidationException)) throw error;
          figures.refused++;
          refusedFields.set(
            error.field.replace(/\[\d+\]/g, '[]'),
            (refusedFields.get(error.field.replace(/\[\d+\]/g, '[]')) ?? 0) + 1,
          );
          continue;
        }
        figures.accepted++;
        if (limit) {
          figures.overLimitAccepted++;
          continue;
        }
        const parsed = await simpleParser(await renderer.render({ id: randomUUID(), mail }));
        const allowed = allowedHeaders(mail);
        // The header lines as written (mailparser folds List-* and others into one structured key).
        const injected = parsed.headerLines.map(({ key }) => key).filter((name) => !allowed.has(name));
        figures.injectedHeaders += injected.length;
        const count = (field: unknown) =>
          field
            ? (Array.isArray(field) ? field : [field]).reduce((sum, each) => sum + each.value.length, 0)
            : 0;
        if (
          count(parsed.to) !== mail.to.length ||
          count(parsed.cc) !== mail.cc.length ||
          count(parsed.from) !== 1
        ) {
          figures.smuggledRecipients++;
        }
      }
      console.log(
        `[reliability 8 hostile input] ${Object.entries(figures)
          .map(([name, value]) => `${name}=${value}`)
          .join(' ')} ` +
          `refused by field=${JSON.stringify(Object.fromEntries([...refusedFields].sort((a, b) => b[1] - a[1]).slice(0, 8)))}`,
      );
      expect(figures.generated).toBe(GENERATED);
      expect(figures.injectedHeaders).toBe(0);
      expect(figures.smuggledRecipients).toBe(0);
      expect(figures.overLimitAccepted).toBe(0);
      // The generator reaches both sides: enough valid messages to render, enough over-limit ones.
      expect(figures.accepted).toBeGreaterThan(GENERATED / 20);
      expect(figures.overLimit).toBeGreaterThan(GENERATED / 20);
    },
    sized(120_000, 600_000),
  );

  it(
    `answers ${OVER_GRPC} hostile messages over gRPC as the validator does, and stores only those accepted`,
    async () => {
      const validator = new MailValidator(LIMITS);
      const ledger = new OutcomeLedger();
      const codes = new Map<string, number>();
      let disagreements = 0;
      const samples = fc.sample(hostileMail, { numRuns: OVER_GRPC, seed: 7 });
      for (const [index, mail] of samples.entries()) {
        let expected: string = 'OK';
        try {
          validator.validate({ mail, idempotencyKey: '' });
        } catch {
          expected = 'INVALID_ARGUMENT';
        }
        const key = `hostile-${index}`;
        const actual = await ledger.track(key, gateway.client.sendMail({ mail, idempotencyKey: key })).then(
          () => 'OK',
          (error: ServiceError) => status[error.code],
        );
        codes.set(actual, (codes.get(actual) ?? 0) + 1);
        if (actual !== expected) disagreements++;
      }
      const stored = await gateway.count('outbox_message');
      console.log(
        `[reliability 8 hostile input over gRPC] messages=${OVER_GRPC} statuses=${JSON.stringify(Object.fromEntries(codes))} ` +
          `disagreements with the validator=${disagreements} stored=${stored} acknowledged=${ledger.acknowledged.size}`,
      );
      expect(disagreements).toBe(0);
      expect(stored).toBe(ledger.acknowledged.size);
    },
    sized(60_000, 300_000),
  );

  it(`refuses ${RAW_FRAMES} requests whose bytes are not a SendMailRequest, and keeps serving`, async () => {
    const authorized = new Metadata();
    authorized.set('authorization', `Bearer ${TEST_API_KEY}`);
    const raw = new Client(gateway.address, credentials.createInsecure());
    const send = (bytes: Uint8Array) =>
      new Promise<string>((resolve) =>
        raw.makeUnaryRequest(
          '/mailgateway.v1.MailGateway/SendMail',
          (value: Buffer) => value,
          (value: Buffer) => value,
          Buffer.from(bytes),
          authorized,
          { deadline: Date.now() + 5_000 },
          (error) => resolve(error ? status[error.code] : 'OK'),
        ),
      );
    // Field 1 (mail) with every other wire type, field 2 (idempotency_key) as a varint, a length
    // that runs past the end, a group that never ends, and random bytes.
    const crafted = [
      [0x08, 0x01],
      [0x09, 1, 2, 3, 4, 5, 6, 7, 8],
      [0x0d, 1, 2, 3, 4],
      [0x10, 0x96, 0x01],
      [0x0a, 0x7f, 0x01],
      [0x0b, 0x0a, 0x00],
      [0x0a, 0x02, 0x08, 0x01],
      [0x0a, 0x04, 0x32, 0x02, 0xff, 0xfe],
    ].map((bytes) => Uint8Array.from(bytes));
    const frames = [
      ...crafted,
      ...fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), {
        numRuns: RAW_FRAMES - crafted.length,
        seed: 3,
      }),
    ];
    const before = await gateway.count('outbox_message');
    const codes = new Map<string, number>();
    for (const frame of frames) {
      const code = await send(frame);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    raw.close();
    const stored = (await gateway.count('outbox_message')) - before;
    const alive = await gateway.client
      .getMessage({ messageId: randomUUID() })
      .catch((error: ServiceError) => status[error.code]);
    console.log(
      `[reliability 8 wrong protobuf types] frames=${frames.length} statuses=${JSON.stringify(Object.fromEntries(codes))} ` +
        `stored=${stored} still serving=${alive === 'NOT_FOUND'}`,
    );
    // grpc-js answers bytes that do not decode with INTERNAL ("Error deserializing request");
    // what decodes but is no valid message is INVALID_ARGUMENT. Nothing else, nothing stored.
    expect([...codes.keys()].every((code) => code === 'INVALID_ARGUMENT' || code === 'INTERNAL')).toBe(true);
    expect(stored).toBe(0);
    expect(alive).toBe('NOT_FOUND');
  });
});
