import type { Metadata } from '@grpc/grpc-js';
import { decodeStatusDetails, STATUS_DETAILS_TRAILER } from '@mailgateway/contracts';

/**
 * How long the server asked the caller to wait: RetryInfo in the status details, else a
 * `retry-after` entry (seconds). Undefined when it gave no advice or the advice is unreadable.
 */
export function advisedRetryDelayMs(metadata: Metadata | undefined): number | undefined {
  if (!metadata) return undefined;
  for (const value of metadata.get(STATUS_DETAILS_TRAILER)) {
    try {
      const { retryDelayMs } = decodeStatusDetails(value as Buffer);
      if (retryDelayMs !== undefined) return Math.max(0, retryDelayMs);
    } catch {
      // A malformed trailer is no advice; fall through to the next source.
    }
  }
  const [retryAfter] = metadata.get('retry-after');
  const seconds = retryAfter === undefined ? NaN : Number(retryAfter.toString());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
