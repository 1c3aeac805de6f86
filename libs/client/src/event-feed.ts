import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { GatewayClientOptionsError } from './gateway-client-options';
import {
  EventFilter,
  FeedEvent,
  StreamEventsRequest,
  StreamEventsResponse,
} from './generated/mailgateway/v1/mail_gateway';

/** One item of a followed feed, with the cursor to resume after it. */
export type FeedItem =
  | { readonly kind: 'event'; readonly event: FeedEvent; readonly cursor: string }
  | { readonly kind: 'heartbeat'; readonly cursor: string };

/** Waits between reconnects: exponential backoff with full jitter, capped. */
export interface ReconnectOptions {
  /** Ceiling of the first wait (a random time up to it); it doubles per failed reconnect. Default 100 ms. */
  readonly initialDelayMs?: number;
  /** Largest ceiling. Default 5 s. */
  readonly maxDelayMs?: number;
}

export interface FollowEventsOptions {
  /** Where to start: a cursor an earlier read or item gave; empty or absent for the oldest event kept. */
  readonly cursor?: string;
  /** Which events; a cursor must come with the filter it was issued for. */
  readonly filter?: Partial<EventFilter>;
  /** Aborting it cancels the stream and ends the iteration (without an error). */
  readonly signal?: AbortSignal;
  readonly reconnect?: ReconnectOptions;
}

const DEFAULT_RECONNECT: Required<ReconnectOptions> = { initialDelayMs: 100, maxDelayMs: 5_000 };

/** Event ids remembered to drop an event seen again just after a reconnect. */
const RECENT_EVENT_IDS = 100;

/**
 * Follows the feed through `open` (a StreamEvents call): yields each item as the consumer asks for
 * it, and reconnects from the cursor of the last item when a stream ends with UNAVAILABLE (the
 * gateway shut down, restarted or lost its database) or ends at all, waiting between attempts.
 * Any other status (INVALID_ARGUMENT, OUT_OF_RANGE, PERMISSION_DENIED...) ends the iteration with
 * that error. Pull-based: grpc-js reads from the connection only while its stream's small buffer
 * has room, so a slow consumer holds the server back instead of filling memory.
 */
export async function* followFeed(
  open: (request: StreamEventsRequest) => ClientReadableStream<StreamEventsResponse>,
  options: FollowEventsOptions = {},
): AsyncGenerator<FeedItem, void, undefined> {
  const { signal } = options;
  const reconnect = reconnectOptions(options.reconnect);
  const filter: EventFilter = { types: [], messageId: '', ...options.filter };
  const recent = new RecentIds(RECENT_EVENT_IDS);
  let cursor = options.cursor ?? '';
  let failures = 0;
  while (!signal?.aborted) {
    const call = open({ cursor, filter });
    // The iteration below reports the call's errors; this keeps the CANCELLED that follows a
    // cancel() (once nothing iterates any more) from being an unhandled 'error' event.
    call.on('error', () => undefined);
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const response of call as AsyncIterable<StreamEventsResponse>) {
        if (signal?.aborted) return;
        failures = 0;
        cursor = response.cursor;
        if (!response.event) {
          yield { kind: 'heartbeat', cursor };
          continue;
        }
        // At least once: a resumed stream may repeat an event already yielded.
        if (recent.has(response.event.eventId)) continue;
        recent.add(response.event.eventId);
        yield { kind: 'event', event: response.event, cursor };
      }
    } catch (error) {
      if (signal?.aborted) return;
      if ((error as Partial<ServiceError>).code !== status.UNAVAILABLE) throw error;
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
    const ceilingMs = Math.min(reconnect.maxDelayMs, reconnect.initialDelayMs * 2 ** failures++);
    try {
      await sleep(Math.random() * ceilingMs, undefined, { signal });
    } catch {
      return; // aborted while waiting
    }
  }
}

function reconnectOptions(options: ReconnectOptions | undefined): Required<ReconnectOptions> {
  const resolved = { ...DEFAULT_RECONNECT, ...options };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new GatewayClientOptionsError(
        `reconnect.${name}: expected a positive number of milliseconds, got ${value}`,
      );
    }
  }
  return resolved;
}

/** The last `size` ids added. */
class RecentIds {
  private readonly order: string[] = [];
  private readonly ids = new Set<string>();

  constructor(private readonly size: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    this.order.push(id);
    if (this.order.length > this.size) this.ids.delete(this.order.shift()!);
  }
}
