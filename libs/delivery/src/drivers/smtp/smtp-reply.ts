// Reply codes: RFC 5321 §4.2 (https://www.rfc-editor.org/rfc/rfc5321#section-4.2); enhanced status
// codes: RFC 3463 (https://www.rfc-editor.org/rfc/rfc3463) and the IANA registry
// (https://www.iana.org/assignments/smtp-enhanced-status-codes).

const MAX_REASON_CHARS = 300;

/** One reply of the relay, as it came: "550 5.1.1 <b@example.org>: Recipient address rejected". */
export interface SmtpReply {
  /** The three-digit reply code. */
  readonly code: number;
  /** The RFC 3463 enhanced status code ("5.1.1"), when the relay gave one. */
  readonly enhanced?: string;
  /** The reply's text after the codes, continuation lines joined. */
  readonly text: string;
}

/** Reads a reply line (or a multiline reply); undefined when it does not start with a reply code. */
export function parseReply(response: string | undefined): SmtpReply | undefined {
  if (!response) return undefined;
  const lines = response.split(/\r?\n/).filter((line) => line.trim() !== '');
  const first = /^([2-5]\d\d)[ -]?/.exec(lines[0] ?? '');
  if (!first) return undefined;
  const code = Number(first[1]);
  const texts = lines.map((line) => line.replace(/^\d{3}[ -]?/, ''));
  const enhanced = /^([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/.exec(texts[0] ?? '');
  const text = texts
    .map((line) => (enhanced ? line.replace(/^[245]\.\d{1,3}\.\d{1,3}\s*/, '') : line).trim())
    .join(' ')
    .trim();
  return enhanced ? { code, enhanced: enhanced[1], text } : { code, text };
}

/** The reply in a short, single-line form for the event history: "550 5.1.1 user unknown". */
export function describeReply(reply: SmtpReply): string {
  const described = [String(reply.code), reply.enhanced, reply.text].filter(Boolean).join(' ');
  return described.replace(/\s+/g, ' ').slice(0, MAX_REASON_CHARS);
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * The wait a temporary refusal asks for in words, as relays write it ("try again in 30 seconds",
 * "retry in 5 minutes", "please retry after 120s"); undefined when it names none.
 */
export function retryHintMs(text: string): number | undefined {
  const match =
    /\b(?:try(?:\s+again)?|retry|again)(?:\s+later)?\s+(?:in|after)\s+(\d{1,6})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\b/i.exec(
      text,
    );
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2][0].toLowerCase()];
}

/**
 * The relay's id for the message in its 250 answer to the final dot, where relays put it:
 * Postfix "250 2.0.0 Ok: queued as 4Fx2K6Hn9z", Exim "250 OK id=1rXyZa-0004kE-2B", Sendmail
 * "250 2.0.0 x8H1Ma3J012345 Message accepted for delivery", Amazon SES "250 Ok 0100018b2a-...".
 */
export function queueId(reply: SmtpReply): string | undefined {
  const patterns = [
    /\bqueued as\s+([^\s,;]+)/i,
    /\bid=([^\s,;]+)/i,
    /^([A-Za-z0-9][\w.-]{5,})\s+Message accepted\b/i,
    /^ok\s+([A-Za-z0-9][\w.-]{15,})$/i,
  ];
  for (const pattern of patterns) {
    const match = pattern.exec(reply.text);
    if (match) return match[1].replace(/^[<[(]+|[>\]).]+$/g, '');
  }
  return undefined;
}

/**
 * Whether the relay refused the gateway's credentials or wants them (RFC 4954 §6: 530 5.7.0
 * authentication required, 534 5.7.9 mechanism too weak, 535 5.7.8 credentials invalid; 454
 * 4.7.0 is a temporary failure and retried as such).
 */
export function isAuthenticationReply(reply: SmtpReply): boolean {
  return reply.code === 530 || reply.code === 534 || reply.code === 535;
}
