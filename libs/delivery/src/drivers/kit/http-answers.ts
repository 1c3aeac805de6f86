import type { IncomingHttpHeaders } from 'node:http';

// X-RateLimit-Reset is documented as epoch seconds by some providers; a smaller number can only be
// seconds from now.
const EPOCH_SECONDS_FLOOR = 1_000_000_000;
const MAX_DETAIL_CHARS = 300;

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

/** Milliseconds until X-RateLimit-Reset (epoch seconds, or seconds from now), when the limit frees up. */
export function parseRateLimitReset(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const value = headers['x-ratelimit-reset'];
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  const seconds = Number(value.trim());
  return seconds >= EPOCH_SECONDS_FLOOR ? Math.max(0, seconds * 1000 - now) : seconds * 1000;
}

/** A response body read as a JSON object, or undefined when it is not one. */
export function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A short, safe description of a response for the event history: status and provider message. */
export function describeResponse(statusCode: number, detail?: string): string {
  const text = detail ? `: ${detail.replace(/\s+/g, ' ').slice(0, MAX_DETAIL_CHARS)}` : '';
  return `HTTP ${statusCode}${text}`;
}
