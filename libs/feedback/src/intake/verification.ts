import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderFeedback } from '../provider-feedback';
import type { Verification } from './webhook-provider';

/** What every provider's verify() answers with. Explanations never quote the body or a secret. */
export const verified = (feedback: readonly ProviderFeedback[]): Verification => ({
  kind: 'verified',
  feedback,
});

export const unauthenticated = (explanation: string): Verification => ({
  kind: 'refused',
  status: 401,
  reason: 'unauthenticated',
  explanation,
});

export const stale = (explanation: string): Verification => ({
  kind: 'refused',
  status: 401,
  reason: 'stale',
  explanation,
});

export const malformed = (explanation: string): Verification => ({
  kind: 'refused',
  status: 400,
  reason: 'malformed',
  explanation,
});

/** A header sent exactly once; a repeated one counts as absent (it cannot be told which to trust). */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/** The body as JSON, or undefined when it is not JSON (or not UTF-8). */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether a signed timestamp (epoch ms) is within the window of the receiving clock, either way. */
export function withinReplayWindow(timestampMs: number, receivedAt: number, windowMs: number): boolean {
  return Math.abs(receivedAt - timestampMs) <= windowMs;
}

/** An integer of Unix seconds as the headers carry it ("1600112502"), or undefined. */
export function parseUnixSeconds(text: string): number | undefined {
  return /^\d{1,12}$/.test(text) ? Number(text) * 1000 : undefined;
}

/** Bounded, so one provider's long diagnostic cannot bloat a row or an event. */
export function detailText(...parts: readonly unknown[]): string {
  const text = parts
    .filter(
      (part): part is string | number =>
        (typeof part === 'string' && part.length > 0) || typeof part === 'number',
    )
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 500 ? `${text.slice(0, 499)}…` : text;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const nonEmptyString = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0;
