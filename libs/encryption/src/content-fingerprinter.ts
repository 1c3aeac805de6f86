import { createHmac, type Hmac } from 'node:crypto';

/**
 * The keyed digest of a message's content kept to tell an idempotent replay from a conflict.
 * Keyed (HMAC-SHA256 under a gateway secret), so a dump cannot confirm guessed content: an OTP
 * mail whose every other part is known would otherwise give its code away in 10^6 guesses.
 */
export class ContentFingerprinter {
  constructor(private readonly key: Buffer) {}

  /** A fresh keyed digest: update it with the content, then digest('hex') (64 hex digits). */
  digest(): Hmac {
    return createHmac('sha256', this.key);
  }
}
