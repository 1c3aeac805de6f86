import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import type { StreamEventsResponse } from '@mailgateway/contracts';
import { GatewayMetrics } from '@mailgateway/observability';
import {
  comparePositions,
  FeedCursors,
  FeedFilter,
  FeedPosition,
  FeedSignal,
  OutboxFeed,
} from '@mailgateway/outbox';
import { Observable, Subscriber } from 'rxjs';
import { toTimestamp } from '../mail/mail.mapper';
import { EventsConfig, eventsConfig } from './events.settings';
import { toFeedEvent } from './events.mapper';
import { StreamLimitException } from './stream-limit.exception';
import { StreamsClosingException } from './streams-closing.exception';

/** Events read per query while a stream catches up. */
const STREAM_PAGE_SIZE = 200;
/**
 * While events committed before a wake-up are still held back (an older transaction is open, so
 * the feed's horizon has not passed them), look again after these delays, the last one repeating
 * until they are read. Only then does the stream wait for the next wake-up (or the poll).
 */
const CATCH_UP_DELAYS_MS = [5, 20, 80, 320, 1_000];
/** When a refused stream may try again. */
const STREAM_LIMIT_RETRY_MS = 5_000;

interface OpenStream {
  readonly source: string;
  /** Ends the stream: with an error for the client, or quietly when the client left. */
  stop(error?: Error): void;
}

/**
 * The open StreamEvents streams of this process: admits them within the limits, follows each
 * source's feed (replay, then live on wake-ups, with heartbeats while idle) and ends them all with
 * UNAVAILABLE on shutdown. A stream reads the next page only once the client has taken the last
 * one (gRPC flow control), so a consumer that stops reading costs one page, not a growing buffer.
 */
@Injectable()
export class EventStreams {
  private readonly open = new Set<OpenStream>();
  private readonly perSource = new Map<string, number>();
  private closing = false;

  constructor(
    private readonly feed: OutboxFeed,
    private readonly cursors: FeedCursors,
    private readonly signal: FeedSignal,
    private readonly metrics: GatewayMetrics,
    @InjectConfig(eventsConfig) private readonly config: EventsConfig,
  ) {}

  /** The stream of `source`'s events after `cursor`, written to `call` no faster than it drains. */
  follow(
    source: string,
    filter: FeedFilter,
    cursor: string,
    call: Writable,
  ): Observable<StreamEventsResponse> {
    return new Observable<StreamEventsResponse>((subscriber) => {
      let stream: OpenStream;
      try {
        stream = this.admit(source, subscriber);
      } catch (error) {
        subscriber.error(error);
        return;
      }
      const idle = new IdleWait();
      void this.run(stream, idle, subscriber, filter, cursor, call);
      // The client left (or the call ended): stop reading at once.
      return () => {
        stream.stop();
        idle.wake();
      };
    });
  }

  /** Shutdown: every stream ends with UNAVAILABLE, and no new one starts. */
  closeAll(): void {
    this.closing = true;
    for (const stream of [...this.open]) stream.stop(new StreamsClosingException());
  }

  private admit(source: string, subscriber: Subscriber<StreamEventsResponse>): OpenStream {
    if (this.closing) throw new StreamsClosingException();
    const { maxStreams, maxStreamsPerSource } = this.config;
    if (this.open.size >= maxStreams) {
      throw new StreamLimitException(
        `this gateway already serves ${maxStreams} streams (FEED_MAX_STREAMS); try again later or another replica`,
        STREAM_LIMIT_RETRY_MS,
      );
    }
    const held = this.perSource.get(source) ?? 0;
    if (held >= maxStreamsPerSource) {
      throw new StreamLimitException(
        `source "${source}" already holds ${held} streams on this gateway (FEED_MAX_STREAMS_PER_SOURCE)`,
        STREAM_LIMIT_RETRY_MS,
      );
    }
    let stopped = false;
    const stream: OpenStream = {
      source,
      stop: (error) => {
        if (stopped) return;
        stopped = true;
        this.open.delete(stream);
        const left = (this.perSource.get(source) ?? 1) - 1;
        if (left > 0) this.perSource.set(source, left);
        else this.perSource.delete(source);
        this.metrics.feedStreams.set(this.open.size);
        if (error) subscriber.error(error);
        else subscriber.complete();
      },
    };
    this.open.add(stream);
    this.perSource.set(source, held + 1);
    this.metrics.feedStreams.set(this.open.size);
    return stream;
  }

  private async run(
    stream: OpenStream,
    idle: IdleWait,
    subscriber: Subscriber<StreamEventsResponse>,
    filter: FeedFilter,
    cursor: string,
    call: Writable,
  ): Promise<void> {
    const { source } = stream;
    const unsubscribe = this.signal.subscribe(source, () => idle.wake());
    const ended = () => subscriber.closed;
    try {
      let position: FeedPosition | null = await this.cursors.decode(cursor, source, filter);
      let lastSentAt = Date.now();
      // The start counts as a wake-up: what was committed before it may still be held back.
      let woken = true;
      /** Where the feed must get to before every event committed before the last wake-up is read. */
      let awaited: FeedPosition | null = null;
      let catchUp = 0;
      while (!ended()) {
        const page = await this.feed.read(source, filter, position, STREAM_PAGE_SIZE);
        position = page.next;
        // This read began after the wake-up, so whatever it announced was committed before it.
        if (woken && (!awaited || comparePositions(page.committedUpTo, awaited) > 0)) {
          awaited = page.committedUpTo;
        }
        woken = false;
        if (awaited && comparePositions(position, awaited) >= 0) {
          awaited = null;
          catchUp = 0;
        }
        for (const event of page.events) {
          if (!(await writable(call, ended))) return;
          subscriber.next({
            event: toFeedEvent(event),
            cursor: await this.cursors.encode(source, filter, event.position),
          });
          this.metrics.feedEventsSent.inc({ method: 'StreamEvents' });
        }
        if (page.events.length > 0) lastSentAt = Date.now();
        if (page.events.length === STREAM_PAGE_SIZE) continue;

        const heartbeatDue = lastSentAt + this.config.heartbeatMs;
        const pause = Math.min(
          this.config.pollMs,
          Math.max(0, heartbeatDue - Date.now()),
          awaited ? CATCH_UP_DELAYS_MS[Math.min(catchUp++, CATCH_UP_DELAYS_MS.length - 1)] : Infinity,
        );
        if (await idle.wait(pause, ended)) woken = true;
        if (ended()) return;
        if (Date.now() >= heartbeatDue) {
          if (!(await writable(call, ended))) return;
          subscriber.next({
            heartbeat: { sentAt: toTimestamp(Date.now()) },
            cursor: await this.cursors.encode(source, filter, position),
          });
          lastSentAt = Date.now();
        }
      }
    } catch (error) {
      stream.stop(error as Error);
    } finally {
      unsubscribe();
    }
  }
}

/** Resolves true when the client can take more, false once the stream has ended. */
async function writable(call: Writable, ended: () => boolean): Promise<boolean> {
  while (call.writableNeedDrain && !ended()) {
    // Bounded wait: a stream ended while its client was not reading must still let go.
    const waiting = new AbortController();
    const { signal } = waiting;
    await Promise.race([
      once(call, 'drain', { signal }),
      once(call, 'close', { signal }),
      delay(1_000),
    ]).catch(() => undefined);
    waiting.abort();
  }
  return !ended();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A stream's pause between reads: cut short by a wake-up, which is never lost while reading. */
class IdleWait {
  private woken = false;
  private resume: (() => void) | null = null;

  wake(): void {
    this.woken = true;
    this.resume?.();
  }

  /** Waits up to `ms`; true when a wake-up ended the wait (or came since the last wait). */
  async wait(ms: number, ended: () => boolean): Promise<boolean> {
    if (!this.woken && ms > 0 && !ended()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.resume = done;
      });
      this.resume = null;
    }
    const woken = this.woken;
    this.woken = false;
    return woken;
  }
}
