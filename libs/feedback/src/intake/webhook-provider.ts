import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderFeedback } from '../provider-feedback';

/** A provider's request as the listener read it: the raw body, never re-serialised. */
export interface InboundRequest {
  readonly method: string;
  /** What follows /webhooks/<provider> in the path ("" or "/<token>"), without the query. */
  readonly subpath: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** When the listener read it (epoch ms): the clock replay windows are checked against. */
  readonly receivedAt: number;
}

/** Why a request was refused, for the metrics' reason label. */
export type RefusalReason =
  | 'unauthenticated' // no, or a wrong, signature / credential
  | 'stale' // timestamp outside the replay window
  | 'malformed' // not the provider's documented shape
  | 'untrusted-certificate' // SNS: signing certificate URL not on the provider's hosts
  | 'method' // not POST
  | 'too-large'; // body over FEEDBACK_MAX_BODY_BYTES (the listener's own refusal)

export type Verification =
  | {
      readonly kind: 'verified';
      /** Notifications to store (none for, e.g., an SNS subscription confirmation). */
      readonly feedback: readonly ProviderFeedback[];
    }
  | {
      readonly kind: 'refused';
      /** 401 for unauthenticated and stale requests, 400 for malformed ones, 405 for a wrong method. */
      readonly status: 400 | 401 | 403 | 405;
      readonly reason: RefusalReason;
      /** For the response body and the log: never includes the request body or a secret. */
      readonly explanation: string;
    };

/**
 * One provider's endpoint, /webhooks/<name>: checks the request as the provider documents it, on
 * the raw bytes, and turns it into normalised feedback. Nothing is stored unless it is verified.
 */
export interface WebhookProvider {
  /** The path segment and the metrics label, e.g. "sendgrid". */
  readonly name: string;
  verify(request: InboundRequest): Promise<Verification>;
}

/** Multi-provider token: every configured WebhookProvider. */
export const WEBHOOK_PROVIDERS = Symbol('WEBHOOK_PROVIDERS');
