import type { Mail } from '@mailgateway/contracts';

/** What a driver is asked to send: one attempt of one outbox message. */
export interface OutboundMessage {
  readonly id: string;
  readonly attempt: number;
  /** Stable across attempts: drivers forward it where the provider deduplicates on it. */
  readonly idempotencyKey: string;
  readonly mail: Mail;
}

export type DeliveryOutcome =
  | { readonly kind: 'accepted'; readonly providerMessageId?: string }
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
