import type { Mail } from '@mailgateway/contracts';

/** What a driver is asked to send: one attempt of one outbox message. */
export interface OutboundMessage {
  readonly id: string;
  readonly attempt: number;
  /** Stable across attempts: drivers forward it where the provider deduplicates on it. */
  readonly idempotencyKey: string;
  readonly mail: Mail;
}

/** A recipient the provider refused while it took the message for the others (SMTP RCPT TO). */
export interface RefusedRecipient {
  readonly address: string;
  /** The provider's words, e.g. "550 5.1.1 <b@example.com>: user unknown". */
  readonly reason: string;
  /** False for a temporary refusal (4xx): that recipient is not retried, the others have the message. */
  readonly permanent: boolean;
}

export type DeliveryOutcome =
  | {
      readonly kind: 'accepted';
      readonly providerMessageId?: string;
      /** Recipients refused while the others were accepted; each is recorded as an event. */
      readonly refusedRecipients?: readonly RefusedRecipient[];
    }
  /**
   * Worth another attempt; retryAfterMs is the provider's own wish (Retry-After), if it gave one.
   * outcomeUnknown: the request may have reached the provider (the connection broke after it was
   * sent), so the next attempt may deliver the message a second time.
   */
  | {
      readonly kind: 'retry';
      readonly reason: string;
      readonly retryAfterMs?: number;
      readonly outcomeUnknown?: boolean;
      /**
       * The fault is the gateway's own configuration (the relay refused its credentials), not the
       * message's: this attempt does not count toward DELIVERY_MAX_ATTEMPTS.
       */
      readonly sparesAttempt?: boolean;
    }
  /** The provider refused the message for good: never retried. */
  | { readonly kind: 'permanent'; readonly reason: string };

/**
 * A provider behind one interface. send() resolves to an outcome for every answer the provider
 * documents; it rejects only for faults it cannot classify, which are retried. It stops early
 * when the signal aborts (shutdown).
 */
export interface MailDriver {
  readonly name: string;
  send(message: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome>;
}

export const MAIL_DRIVER = Symbol('MAIL_DRIVER');
/** The secondary driver (FALLBACK_MAIL_DRIVER), or null when none is configured. */
export const FALLBACK_MAIL_DRIVER = Symbol('FALLBACK_MAIL_DRIVER');
