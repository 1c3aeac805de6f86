/**
 * Keys whose values never reach a log line, at the top level or one level down. Message content
 * (subject, bodies, attachments, the whole mail or request) is personal data; the rest are secrets.
 */
export const REDACTED_KEYS = [
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

const REDACTED_KEY_SET = new Set(REDACTED_KEYS);

export const REDACTED = '[redacted]';

/**
 * The fields with the redacted keys of their object values censored (pino's `redact` censors the
 * top level); the same object when there is nothing to censor, as in a call line, so it costs no
 * copy. Not pino's `*.key` wildcard paths: they ran a path redactor over every field of every
 * line, about three quarters of a call line's CPU.
 */
export function redactOneLevelDown<T extends object>(fields: T): T {
  let censored: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    // An error's line holds only what its serializer keeps (type, message, stack, code).
    if (key === 'err' || REDACTED_KEY_SET.has(key)) continue;
    const kept = censorKeys(value);
    if (kept !== value) (censored ??= { ...fields } as Record<string, unknown>)[key] = kept;
  }
  return (censored ?? fields) as T;
}

function censorKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  let censored: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    if (REDACTED_KEY_SET.has(key)) (censored ??= { ...value })[key] = REDACTED;
  }
  return censored ?? value;
}

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
