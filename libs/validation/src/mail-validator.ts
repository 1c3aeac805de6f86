import { domainToASCII } from 'node:url';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import {
  GATEWAY_MESSAGE_ID_HEADER,
  GATEWAY_MESSAGE_ID_METADATA_KEY,
  type Attachment,
  type EmailAddress,
  type Header,
  type SendMailRequest,
  type Timestamp,
} from '@mailgateway/contracts';
import { ValidationException } from './validation.exception';
import { validationConfig } from './validation.settings';

export interface MailLimits {
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxRecipients: number;
  /** How far ahead a send time may lie. */
  readonly maxScheduleAheadMs: number;
}

const MAX_IDEMPOTENCY_KEY_CHARS = 255;
const MAX_LOCAL_PART_OCTETS = 64;
const MAX_ADDRESS_OCTETS = 254;
const MAX_DOMAIN_LABEL_CHARS = 63;
const MAX_DISPLAY_NAME_CHARS = 256;
const MAX_SUBJECT_CHARS = 998;
const MAX_HEADERS = 50;
const MAX_HEADER_NAME_CHARS = 76;
const MAX_HEADER_VALUE_CHARS = 998;
const MAX_ATTACHMENTS = 100;
const MAX_FILE_NAME_CHARS = 255;
const MAX_TAGS = 10;
const MAX_TAG_CHARS = 64;
const MAX_METADATA_ENTRIES = 20;
const MAX_METADATA_KEY_CHARS = 64;
const MAX_METADATA_VALUE_CHARS = 1024;

// In-Reply-To and References are deliberately absent: callers thread replies with them.
const RESERVED_HEADERS = new Map(
  [
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
    GATEWAY_MESSAGE_ID_HEADER,
  ].map((name) => [name.toLowerCase(), name]),
);

// RFC 5322 atext plus any non-ASCII character (RFC 6532); dots are checked separately.
const LOCAL_PART_FORBIDDEN = /[^A-Za-z0-9!#$%&'*+\/=?^_`{|}~.\-\u0080-\u{10FFFF}]/u;
const DOMAIN_LABEL = /^[a-z0-9-]+$/i;
const HEADER_NAME_FORBIDDEN = /[^\x21-\x39\x3b-\x7e]/;
const PRINTABLE_ASCII_FORBIDDEN = /[^\x21-\x7e]/;
// RFC 2045 token: printable US-ASCII except tspecials ()<>@,;:\"/[]?=
const MIME_TOKEN = "[!#$%&'*+\\-.0-9A-Z^_`a-z{|}~]+";
const CONTENT_TYPE = new RegExp(`^${MIME_TOKEN}/${MIME_TOKEN}$`);
const TAG_FORBIDDEN = /[^A-Za-z0-9_.:-]/;
const METADATA_KEY_FORBIDDEN = /[^A-Za-z0-9_.-]/;
const WHITESPACE = /\s/u;
/** C0 and C1 control characters. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
/** What would end a header line: CR, LF, NEL, Unicode line and paragraph separators, and NUL. */
const LINE_BREAK_OR_NUL = /[\u0000\n\r\u0085\u2028\u2029]/u;

const CHAR_NAMES: Record<number, string> = {
  0x00: 'NUL',
  0x09: 'TAB',
  0x0a: 'LF',
  0x0d: 'CR',
  0x20: 'space',
  0x85: 'NEL',
  0xa0: 'NO-BREAK SPACE',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
};

@Injectable()
export class MailValidator {
  constructor(@InjectConfig(validationConfig) private readonly limits: MailLimits) {}

  /**
   * A send time in epoch milliseconds (sub-millisecond nanos dropped), or null when unset. Throws a
   * ValidationException naming `field` when it is not a valid Timestamp or lies beyond
   * SCHEDULE_MAX_AHEAD_MS. A time at or before now means at once.
   */
  sendTime(timestamp: Timestamp | undefined, field = 'send_at', now = Date.now()): number | null {
    if (!timestamp) return null;
    const { seconds, nanos } = timestamp;
    if (!Number.isSafeInteger(seconds) || Math.abs(seconds) > MAX_TIMESTAMP_SECONDS) {
      fail(field, 'not a valid timestamp (seconds out of range)');
    }
    if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
      fail(field, 'not a valid timestamp (nanos must be 0 to 999999999)');
    }
    const at = seconds * 1000 + Math.floor(nanos / 1_000_000);
    const { maxScheduleAheadMs } = this.limits;
    if (at > now + maxScheduleAheadMs) {
      fail(
        field,
        `${new Date(at).toISOString()} is more than ${maxScheduleAheadMs} ms ahead (SCHEDULE_MAX_AHEAD_MS)`,
      );
    }
    return at;
  }

  /** Throws a ValidationException naming the first field at fault; never modifies the request. */
  validate(request: SendMailRequest): void {
    checkIdempotencyKey(request.idempotencyKey ?? '');
    this.sendTime(request.sendAt);

    const mail = request.mail;
    if (!mail) fail('mail', 'mail is required');
    // Defaults cover decoders that leave unset proto3 fields undefined instead of empty.
    const {
      from,
      to = [],
      cc = [],
      bcc = [],
      replyTo = [],
      subject = '',
      textBody = '',
      htmlBody = '',
      headers = [],
      attachments = [],
      tags = [],
      metadata = {},
    } = mail;

    if (!from?.address) fail('mail.from.address', 'from address is required');
    checkMailbox(from, 'mail.from');
    checkMailboxes(to, 'mail.to');
    checkMailboxes(cc, 'mail.cc');
    checkMailboxes(bcc, 'mail.bcc');
    this.checkRecipientCount(to.length + cc.length + bcc.length);
    checkMailboxes(replyTo, 'mail.reply_to');

    checkSubject(subject);
    checkBodies(textBody, htmlBody);
    checkHeaders(headers);
    this.checkAttachments(attachments);
    checkTags(tags);
    const metadataEntries = Object.entries(metadata);
    checkMetadata(metadataEntries);

    const size =
      utf8Bytes(subject) +
      utf8Bytes(textBody) +
      utf8Bytes(htmlBody) +
      [from, ...to, ...cc, ...bcc, ...replyTo].reduce(
        (sum, mailbox) => sum + utf8Bytes(mailbox.address ?? '') + utf8Bytes(mailbox.name ?? ''),
        0,
      ) +
      headers.reduce((sum, header) => sum + utf8Bytes(header.name ?? '') + utf8Bytes(header.value ?? ''), 0) +
      tags.reduce((sum, tag) => sum + utf8Bytes(tag), 0) +
      metadataEntries.reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value ?? ''), 0) +
      attachments.reduce(
        (sum, attachment) =>
          sum +
          utf8Bytes(attachment.fileName ?? '') +
          utf8Bytes(attachment.contentType ?? '') +
          byteLength(attachment),
        0,
      );
    if (size > this.limits.maxMessageBytes) {
      fail('mail', `message is ${size} bytes; the limit is ${this.limits.maxMessageBytes}`);
    }
  }

  private checkRecipientCount(count: number): void {
    if (count === 0) fail('mail.to', 'at least one recipient is required in to, cc or bcc');
    if (count > this.limits.maxRecipients) {
      fail(
        'mail.to',
        `message has ${count} recipients across to, cc and bcc; the limit is ${this.limits.maxRecipients}`,
      );
    }
  }

  private checkAttachments(attachments: readonly Attachment[]): void {
    if (attachments.length > MAX_ATTACHMENTS) {
      fail('mail.attachments', `${attachments.length} attachments; the limit is ${MAX_ATTACHMENTS}`);
    }
    attachments.forEach((attachment, index) => {
      const path = `mail.attachments[${index}]`;
      const fileName = attachment.fileName ?? '';
      if (fileName === '') fail(`${path}.file_name`, 'file_name is required');
      checkLength(fileName, MAX_FILE_NAME_CHARS, 'file_name', `${path}.file_name`);
      checkNoLineBreaks(fileName, 'file_name', `${path}.file_name`);
      // A path in the name could steer where a recipient's client saves the file.
      if (/[/\\]/.test(fileName)) fail(`${path}.file_name`, 'file_name must not contain "/" or "\\"');

      const contentType = attachment.contentType ?? '';
      if (contentType === '') fail(`${path}.content_type`, 'content_type is required');
      if (!CONTENT_TYPE.test(contentType)) {
        fail(
          `${path}.content_type`,
          'content_type must be type/subtype made of RFC 2045 token characters, without parameters, e.g. application/pdf',
        );
      }

      const size = byteLength(attachment);
      if (size === 0) fail(`${path}.content`, 'content is empty');
      if (size > this.limits.maxAttachmentBytes) {
        fail(`${path}.content`, `content is ${size} bytes; the limit is ${this.limits.maxAttachmentBytes}`);
      }
    });
  }
}

/** The largest Timestamp seconds protobuf allows (9999-12-31T23:59:59Z). */
const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

function fail(field: string, reason: string): never {
  throw new ValidationException(field, reason);
}

function checkIdempotencyKey(key: string): void {
  checkLength(key, MAX_IDEMPOTENCY_KEY_CHARS, 'idempotency_key', 'idempotency_key');
  const bad = PRINTABLE_ASCII_FORBIDDEN.exec(key);
  if (bad) {
    fail(
      'idempotency_key',
      `idempotency_key contains ${describeChar(bad[0])}; only printable US-ASCII without spaces is allowed`,
    );
  }
}

function checkMailboxes(mailboxes: readonly EmailAddress[], path: string): void {
  mailboxes.forEach((mailbox, index) => checkMailbox(mailbox, `${path}[${index}]`));
}

function checkMailbox(mailbox: EmailAddress, path: string): void {
  const problem = addressProblem(mailbox.address ?? '');
  if (problem) fail(`${path}.address`, problem);
  const name = mailbox.name ?? '';
  checkLength(name, MAX_DISPLAY_NAME_CHARS, 'name', `${path}.name`);
  checkNoLineBreaks(name, 'name', `${path}.name`);
}

/** What is wrong with an email address (the checks SendMail applies), or undefined when nothing. */
export function addressProblem(address: string): string | undefined {
  if (address === '') return 'address is required';
  const control = firstMatch(address, CONTROL);
  if (control !== undefined) {
    return `address contains ${describeChar(control)}; control characters such as CR, LF and NUL are not allowed`;
  }
  if (address.includes('"')) return 'quoted local parts are not supported';
  const space = firstMatch(address, WHITESPACE);
  if (space !== undefined) return `address contains whitespace (${describeChar(space)})`;

  const ats = address.split('@').length - 1;
  if (ats === 0) return 'address must contain "@"';
  if (ats > 1) return `address contains ${ats} "@" characters; exactly one is allowed`;
  const [localPart, domain] = address.split('@') as [string, string];

  const localProblem = localPartProblem(localPart);
  if (localProblem) return localProblem;
  if (domain === '') return 'domain after "@" is empty';
  const octets = utf8Bytes(address);
  if (octets > MAX_ADDRESS_OCTETS) return `address is ${octets} octets; the limit is ${MAX_ADDRESS_OCTETS}`;
  return domainProblem(localPart, domain);
}

function localPartProblem(localPart: string): string | undefined {
  if (localPart === '') return 'local part before "@" is empty';
  const octets = utf8Bytes(localPart);
  if (octets > MAX_LOCAL_PART_OCTETS) {
    return `local part is ${octets} octets; the limit is ${MAX_LOCAL_PART_OCTETS}`;
  }
  if (localPart.startsWith('.')) return 'local part must not start with "."';
  if (localPart.endsWith('.')) return 'local part must not end with "."';
  if (localPart.includes('..')) return 'local part must not contain consecutive dots';
  const bad = LOCAL_PART_FORBIDDEN.exec(localPart);
  if (bad)
    return `local part contains ${describeChar(bad[0])}, which is not allowed in an unquoted local part`;
  return undefined;
}

function domainProblem(localPart: string, domain: string): string | undefined {
  if (domain.startsWith('['))
    return 'address literals such as [192.0.2.1] are not allowed; use a domain name';
  // Checked before conversion too: WHATWG host parsing rejects "x.123" outright with no useful reason.
  if (/^[0-9]+$/.test(domain.split('.').at(-1) ?? '')) return 'top-level domain must not be all-numeric';
  const ascii = domainToASCII(domain);
  if (ascii === '') return `domain "${domain}" is not a valid domain name`;

  const labels = ascii.split('.');
  if (labels.length < 2) return `domain "${domain}" must have at least two labels, e.g. example.com`;
  for (const label of labels) {
    if (label === '') return `domain "${domain}" has an empty label`;
    if (label.length > MAX_DOMAIN_LABEL_CHARS) {
      return `domain label "${label}" is ${label.length} characters; the limit is ${MAX_DOMAIN_LABEL_CHARS}`;
    }
    if (!DOMAIN_LABEL.test(label)) {
      return `domain label "${label}" may contain only letters, digits and hyphens`;
    }
    if (label.startsWith('-') || label.endsWith('-')) {
      return `domain label "${label}" must not start or end with a hyphen`;
    }
  }
  // Numeric forms such as 0x7f.1 only show up as an IPv4 address after conversion.
  if (/^[0-9]+$/.test(labels.at(-1) ?? '')) return 'top-level domain must not be all-numeric';

  // The punycode form is what goes on the wire to a non-SMTPUTF8 upstream, and it can be longer.
  const asciiOctets = utf8Bytes(localPart) + 1 + ascii.length;
  if (asciiOctets > MAX_ADDRESS_OCTETS) {
    return `address is ${asciiOctets} octets with the domain in ASCII form; the limit is ${MAX_ADDRESS_OCTETS}`;
  }
  return undefined;
}

function checkSubject(subject: string): void {
  checkLength(subject, MAX_SUBJECT_CHARS, 'subject', 'mail.subject');
  checkNoLineBreaks(subject, 'subject', 'mail.subject');
}

function checkBodies(textBody: string, htmlBody: string): void {
  if (textBody === '' && htmlBody === '') fail('mail.text_body', 'text_body or html_body is required');
  if (textBody.includes('\0')) fail('mail.text_body', 'text_body contains NUL (U+0000)');
  if (htmlBody.includes('\0')) fail('mail.html_body', 'html_body contains NUL (U+0000)');
}

function checkHeaders(headers: readonly Header[]): void {
  if (headers.length > MAX_HEADERS) {
    fail('mail.headers', `${headers.length} headers; the limit is ${MAX_HEADERS}`);
  }
  const seen = new Map<string, number>();
  headers.forEach((header, index) => {
    const path = `mail.headers[${index}]`;
    const name = header.name ?? '';
    if (name === '') fail(`${path}.name`, 'header name is required');
    checkLength(name, MAX_HEADER_NAME_CHARS, 'header name', `${path}.name`);
    const bad = HEADER_NAME_FORBIDDEN.exec(name);
    if (bad) {
      fail(
        `${path}.name`,
        `header name contains ${describeChar(bad[0])}; only printable US-ASCII other than ":" is allowed`,
      );
    }
    const lower = name.toLowerCase();
    const reserved = RESERVED_HEADERS.get(lower);
    if (reserved) fail(`${path}.name`, `${reserved} is set by the gateway and cannot be a custom header`);
    const first = seen.get(lower);
    if (first !== undefined) {
      fail(
        `${path}.name`,
        `header "${name}" repeats mail.headers[${first}]; custom header names must be unique`,
      );
    }
    seen.set(lower, index);

    const value = header.value ?? '';
    checkLength(value, MAX_HEADER_VALUE_CHARS, 'header value', `${path}.value`);
    checkNoLineBreaks(value, 'header value', `${path}.value`);
  });
}

function checkTags(tags: readonly string[]): void {
  if (tags.length > MAX_TAGS) fail('mail.tags', `${tags.length} tags; the limit is ${MAX_TAGS}`);
  tags.forEach((tag, index) => {
    const path = `mail.tags[${index}]`;
    if (tag === '') fail(path, 'tag is empty');
    checkLength(tag, MAX_TAG_CHARS, 'tag', path);
    const bad = TAG_FORBIDDEN.exec(tag);
    if (bad) {
      fail(
        path,
        `tag contains ${describeChar(bad[0])}; only letters, digits, "_", ".", ":" and "-" are allowed`,
      );
    }
  });
}

function checkMetadata(entries: readonly [string, string][]): void {
  if (entries.length > MAX_METADATA_ENTRIES) {
    fail('mail.metadata', `${entries.length} entries; the limit is ${MAX_METADATA_ENTRIES}`);
  }
  for (const [key, value] of entries) {
    // JSON quoting keeps the path readable and unambiguous whatever the key holds.
    const path = `mail.metadata[${JSON.stringify(key)}]`;
    if (key === '') fail(path, 'metadata key is empty');
    // Compared without case: Postmark refuses keys that differ only in case.
    if (key.toLowerCase() === GATEWAY_MESSAGE_ID_METADATA_KEY) {
      fail(path, `${GATEWAY_MESSAGE_ID_METADATA_KEY} is set by the gateway and cannot be a metadata key`);
    }
    checkLength(key, MAX_METADATA_KEY_CHARS, 'metadata key', path);
    const bad = METADATA_KEY_FORBIDDEN.exec(key);
    if (bad) {
      fail(
        path,
        `metadata key contains ${describeChar(bad[0])}; only letters, digits, "_", "." and "-" are allowed`,
      );
    }
    checkLength(value ?? '', MAX_METADATA_VALUE_CHARS, 'metadata value', path);
  }
}

function checkLength(value: string, limit: number, what: string, field: string): void {
  // UTF-16 length bounds the code point count from above, so most values skip the count.
  if (value.length <= limit) return;
  const chars = [...value].length;
  if (chars > limit) fail(field, `${what} is ${chars} characters; the limit is ${limit}`);
}

// Any of these would let a value end a header line and start a new one (header injection).
function checkNoLineBreaks(value: string, what: string, field: string): void {
  const bad = firstMatch(value, LINE_BREAK_OR_NUL);
  if (bad !== undefined) {
    fail(field, `${what} contains ${describeChar(bad)}; CR, LF, NUL and Unicode line breaks are not allowed`);
  }
}

/** The first character of `value` that `pattern` (one character, no g flag) matches. */
function firstMatch(value: string, pattern: RegExp): string | undefined {
  return pattern.exec(value)?.[0];
}

function isControl(char: string): boolean {
  return CONTROL.test(char);
}

function describeChar(char: string): string {
  const code = codePoint(char);
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = CHAR_NAMES[code];
  if (name) return `${hex} (${name})`;
  if (isControl(char)) return hex;
  return `${JSON.stringify(char)} (${hex})`;
}

function codePoint(char: string): number {
  return char.codePointAt(0) ?? 0;
}

function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

function byteLength(attachment: Attachment): number {
  return attachment.content?.byteLength ?? 0;
}
