/**
 * Keys whose values never reach a log line, at the top level or one level down. Message content
 * (subject, bodies, attachments, the whole mail or request) is personal data; the rest are secrets.
 */
const REDACTED_KEYS = [
  'authorization',
  'cookie',
  'password',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'key',
  'metadata',
  'databaseUrl',
  'DATABASE_URL',
  'request',
  'mail',
  'subject',
  'textBody',
  'htmlBody',
  'body',
  'attachments',
  'content',
  'parameters',
];

export const REDACTED_PATHS = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]);

export const REDACTED = '[redacted]';

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]+):([^\s/@]+)@/gi;
const BEARER = /\b(bearer|basic)\s+[a-z0-9._~+/=-]+/gi;

/** Free text can carry what key-based redaction cannot see: passwords in URLs, bearer tokens. */
export function scrubSecrets(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`).replace(BEARER, `$1 ${REDACTED}`);
}

/** What follows "HTTP <status>: " in an outcome is the provider's own text, up to the retry time. */
const PROVIDER_TEXT = /\b(HTTP \d{3}): .*?(?=; retry at \d{4}-|$)/g;

/**
 * Providers quote the message back in their errors ("cannot deliver to <name>", "subject too
 * long: ..."), so their text stays in the message's history (for its sender) and out of logs.
 */
export function scrubProviderText(text: string): string {
  return text.replace(PROVIDER_TEXT, `$1: ${REDACTED}`);
}
