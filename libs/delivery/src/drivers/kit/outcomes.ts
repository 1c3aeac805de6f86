import type { IncomingHttpHeaders } from 'node:http';
import { UpstreamOutcomeUnknownException } from '../../upstream/upstream-outcome-unknown.exception';
import { UpstreamUnavailableException } from '../../upstream/upstream-unavailable.exception';
import type { UpstreamHttpClient, UpstreamRequest, UpstreamResponse } from '../../upstream/upstream.types';
import type { DeliveryOutcome } from '../mail-driver.interface';
import { parseRetryAfter } from './http-answers';

/** The outbox keeps at most this much of a provider's message id. */
export const MAX_PROVIDER_ID_LENGTH = 255;

/** Accepted, with the provider's id for the message when it gave one (cut to what the outbox keeps). */
export function accepted(providerMessageId?: string | number | null): DeliveryOutcome {
  if (providerMessageId === undefined || providerMessageId === null || providerMessageId === '') {
    return { kind: 'accepted' };
  }
  return { kind: 'accepted', providerMessageId: String(providerMessageId).slice(0, MAX_PROVIDER_ID_LENGTH) };
}

/** Not now; `retryAfterMs` is the provider's own wish, when it gave one. */
export function retry(reason: string, retryAfterMs?: number): DeliveryOutcome {
  return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
}

/** Never: the provider refused this message itself. */
export function permanent(reason: string): DeliveryOutcome {
  return { kind: 'permanent', reason };
}

/**
 * The reading of a status no rule of the provider's covers: a 4xx refuses the message (except
 * those in `retried`, which say "not now"); anything else, 5xx and unusual statuses included, is
 * not a refusal and is retried, honouring Retry-After.
 */
export function outcomeOfStatus(
  statusCode: number,
  reason: string,
  headers: IncomingHttpHeaders,
  retried: ReadonlySet<number> = RETRIED_4XX,
): DeliveryOutcome {
  if (statusCode >= 400 && statusCode <= 499 && !retried.has(statusCode)) return permanent(reason);
  return retry(reason, parseRetryAfter(headers));
}

const RETRIED_4XX: ReadonlySet<number> = new Set([429]);

/**
 * What a transport failure means for the message: retry in every case, flagged when the request
 * may already have reached the provider. Anything else is a bug and is rethrown (the dispatcher
 * retries it as a driver error).
 */
export function outcomeOfUpstreamFailure(error: unknown): DeliveryOutcome {
  if (error instanceof UpstreamUnavailableException) return retry(error.message, error.retryAfterMs);
  if (error instanceof UpstreamOutcomeUnknownException) {
    return { kind: 'retry', reason: error.message, outcomeUnknown: true };
  }
  throw error;
}

/** Sends one request and classifies its answer; a transport failure becomes its retry outcome. */
export async function requestOutcome(
  client: UpstreamHttpClient,
  request: UpstreamRequest,
  classify: (response: UpstreamResponse) => DeliveryOutcome,
): Promise<DeliveryOutcome> {
  let response: UpstreamResponse;
  try {
    response = await client.request(request);
  } catch (error) {
    return outcomeOfUpstreamFailure(error);
  }
  return classify(response);
}
