import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ChannelListener, TransactionRunner } from '@mailgateway/database';

/** The PostgreSQL channel on which replicas tell each other that a source's feed has new events. */
export const FEED_CHANNEL = 'mailgateway_feed';
/** Commits within this window share one NOTIFY. */
const NOTIFY_WINDOW_MS = 10;
/** PostgreSQL refuses payloads of 8000 bytes; a longer list of sources becomes "wake everyone". */
const MAX_PAYLOAD_LENGTH = 7_000;

interface WakeUp {
  /** The process that sent it, so it can ignore its own. */
  readonly p: string;
  /** Sources with new events; absent: every source. */
  readonly s?: string[];
}

type Listener = () => void;

/**
 * Wake-ups for feed readers: the table stays the truth, this only says when to look again. A
 * commit with events wakes this process's readers of those sources at once and, on PostgreSQL,
 * other replicas' through LISTEN/NOTIFY, sent after the commit (never inside it: a NOTIFY in the
 * commit would serialise every commit on the database's notification queue). A wake-up that is
 * lost only delays a reader until its next poll.
 */
@Injectable()
export class FeedSignal implements OnModuleDestroy {
  private readonly logger = new Logger(FeedSignal.name);
  private readonly processId = randomUUID();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly unsent = new Set<string>();
  private notifyTimer: NodeJS.Timeout | null = null;
  /** On PostgreSQL, once a stream subscribes: one connection per process that only listens. */
  private listener: ChannelListener | null = null;
  private closed = false;
  /** Whether the last NOTIFY failed: warned once per outage, not once per commit. */
  private notifyFailing = false;

  private readonly postgres: boolean;

  constructor(private readonly transactions: TransactionRunner) {
    this.postgres = transactions.dialect === 'postgres';
  }

  /** After a commit that wrote events of these sources. */
  published(sources: Iterable<string>): void {
    const fresh = [...new Set(sources)];
    if (fresh.length === 0) return;
    for (const source of fresh) this.wake(source);
    if (!this.postgres || this.closed) return;
    for (const source of fresh) this.unsent.add(source);
    this.notifyTimer ??= setTimeout(() => this.sendNotify(), NOTIFY_WINDOW_MS).unref();
  }

  /** Calls `listener` whenever `source` may have new events; returns the unsubscribe function. */
  subscribe(source: string, listener: Listener): () => void {
    if (this.postgres && !this.listener && !this.closed) {
      this.listener = new ChannelListener(this.transactions, 'mailgateway-feed', FEED_CHANNEL, {
        notification: (payload) => this.onNotification(payload),
        // Whatever was sent while not listening is lost: every reader looks again.
        listening: () => this.wakeAll(),
        lost: (error) =>
          this.logger.warn(`Feed wake-ups lost (${error?.message ?? 'connection ended'}); reconnecting`),
      });
      this.listener.start();
    }
    const forSource = this.listeners.get(source) ?? new Set<Listener>();
    forSource.add(listener);
    this.listeners.set(source, forSource);
    return () => {
      forSource.delete(listener);
      if (forSource.size === 0) this.listeners.delete(source);
    };
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    await this.listener?.close();
  }

  private wake(source: string): void {
    for (const listener of this.listeners.get(source) ?? []) listener();
  }

  private wakeAll(): void {
    for (const source of this.listeners.keys()) this.wake(source);
  }

  private sendNotify(): void {
    this.notifyTimer = null;
    const sources = [...this.unsent];
    this.unsent.clear();
    let payload = JSON.stringify({ p: this.processId, s: sources } satisfies WakeUp);
    if (payload.length > MAX_PAYLOAD_LENGTH) payload = JSON.stringify({ p: this.processId } satisfies WakeUp);
    this.transactions
      .read((manager) => manager.query('SELECT pg_notify($1, $2)', [FEED_CHANNEL, payload]))
      .then(() => (this.notifyFailing = false))
      .catch((error: Error) => {
        if (!this.notifyFailing) {
          this.logger.warn(`Could not notify other replicas of new events: ${error.message}`);
        }
        this.notifyFailing = true;
      });
  }

  private onNotification(payload: string): void {
    let wakeUp: WakeUp;
    try {
      wakeUp = JSON.parse(payload) as WakeUp;
    } catch {
      return;
    }
    if (wakeUp.p === this.processId) return;
    if (!Array.isArray(wakeUp.s)) return this.wakeAll();
    for (const source of wakeUp.s) if (typeof source === 'string') this.wake(source);
  }
}
