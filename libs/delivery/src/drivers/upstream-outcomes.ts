import type { IncomingHttpHeaders } from 'node:http';
import { UpstreamOutcomeUnknownError, UpstreamUnavailableError } from '../upstream/upstream.errors';
import type { DeliveryOutcome } from './mail-driver.interface';

/**
 * Retry-After as milliseconds from now: either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const value = headers['retry-after'];
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * What a transport failure means for the message: retry in every case, flagged when the request
 * may already have reached the provider. Anything else is a bug and is rethrown (the dispatcher
 * retries it as a driver error).
 */
export function outcomeOfUpstreamFailure(error: unknown): DeliveryOutcome {
  if (error instanceof UpstreamUnavailableError) return { kind: 'retry', reason: error.message };
  if (error instanceof UpstreamOutcomeUnknownError) {
    return { kind: 'retry', reason: error.message, outcomeUnknown: true };
  }
  throw error;
}

/** A short, safe description of a response for the event history: status and provider message. */
export function describeResponse(statusCode: number, detail?: string): string {
  const text = detail ? `: ${detail.replace(/\s+/g, ' ').slice(0, 300)}` : '';
  return `HTTP ${statusCode}${text}`;
}
