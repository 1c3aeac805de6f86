import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { runStatement, type TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { NotificationState, ProviderNotificationEntity } from '../../intake/provider-notification.entity';
import type { ProviderFeedback } from '../../provider-feedback';
import { FeedbackPositionEntity } from './feedback-position.entity';
import type { FlowmailerEventApi } from './flowmailer-event-api';
import { flowmailerFeedback, isFeedbackEvent } from './flowmailer-feedback';
import type { FlowmailerMessage } from './flowmailer-message-event';

// A long backlog is read in several polls, so one poll never holds the feed for long.
const MAX_PAGES_PER_POLL = 10;
// A lease covers one page (its GET and one GET per message) several times over; each stored page
// renews it. A replica that dies mid-poll holds the feed no longer than this.
const MIN_LEASE_MS = 60_000;
const LEASE_POLL_INTERVALS = 4;

export interface FlowmailerEventsPollerOptions {
  /** The feed's row in feedback_position: one per Flowmailer account. */
  readonly feed: string;
  readonly pollMs: number;
  readonly pageSize: number;
}

/** What one page's poll did. */
export interface PagePoll {
  /** False when another replica holds the feed's lease, or took it over during this page. */
  readonly polled: boolean;
  readonly eventsRead: number;
}

/** What one page read from Flowmailer gave. */
interface PageRead {
  readonly feedback: ProviderFeedback[];
  readonly events: number;
  readonly next: string;
}

/**
 * Reads Flowmailer's message events from the stored position and stores those that say what
 * became of a recipient as provider_notification rows (once each: INSERT ... ON CONFLICT DO
 * NOTHING on the event id). No transaction is open during the HTTP calls: an open one would hold
 * back the event feed of every source (OutboxFeed waits for transactions older than it) and a pool
 * connection. Instead a short transaction takes a lease on the feed's position row (leased_until),
 * so one replica polls at a time and the others skip that round; the page is read outside any
 * transaction; a second short one stores its notifications and moves the position only if it is
 * still where this poll read it from (compare-and-set), so a replica that lost its lease (it ran
 * out and another took over) stores nothing and stops.
 */
export class FlowmailerEventsPoller implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(FlowmailerEventsPoller.name);
  private readonly stopped = new AbortController();
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly options: FlowmailerEventsPollerOptions,
    private readonly api: FlowmailerEventApi,
    private readonly transactions: TransactionRunner,
    private readonly now: () => number = Date.now,
  ) {
    this.leaseMs = Math.max(MIN_LEASE_MS, LEASE_POLL_INTERVALS * options.pollMs);
  }

  onApplicationBootstrap(): void {
    if (this.options.pollMs > 0) this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Reads pages until the feed is caught up (a short page) or MAX_PAGES_PER_POLL were read. */
  poll(): Promise<PagePoll[]> {
    return this.pollPages(MAX_PAGES_PER_POLL);
  }

  /** One page: read from the stored position, store its notifications and the next position. */
  async pollPage(): Promise<PagePoll> {
    const [page] = await this.pollPages(1);
    return page;
  }

  private async pollPages(maxPages: number): Promise<PagePoll[]> {
    const lease = await this.takeLease();
    if (!lease) return [{ polled: false, eventsRead: 0 }];
    let { position, leasedUntil } = lease;
    let held = true;
    const pages: PagePoll[] = [];
    try {
      for (let page = 0; page < maxPages && !this.stopped.signal.aborted; page++) {
        const read = await this.read(position);
        const last = page + 1 === maxPages || read.events < this.options.pageSize;
        const renewedUntil = last ? null : this.now() + this.leaseMs;
        const stored = await this.transactions.run((manager) =>
          this.store(manager, position, read, renewedUntil),
        );
        if (!stored) {
          held = false;
          pages.push({ polled: false, eventsRead: 0 });
          break;
        }
        pages.push({ polled: true, eventsRead: read.events });
        if (renewedUntil === null) {
          held = false;
          break;
        }
        position = read.next;
        leasedUntil = renewedUntil;
      }
    } finally {
      if (held) await this.releaseLease(leasedUntil);
    }
    return pages;
  }

  private schedule(delayMs: number): void {
    if (this.stopped.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .then(() => undefined)
        .catch((error: unknown) => {
          if (this.stopped.signal.aborted) return;
          this.logger.warn(
            `Flowmailer events not read: ${error instanceof Error ? error.message : String(error)}`,
          );
        })
        .finally(() => {
          this.running = null;
          this.schedule(this.options.pollMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /**
   * Makes sure the feed's row exists and leases it, unless another replica's lease still runs:
   * the position to read from and the lease's end, or undefined to skip this round.
   */
  private async takeLease(): Promise<{ position: string; leasedUntil: number } | undefined> {
    const now = this.now();
    const leasedUntil = now + this.leaseMs;
    const rows = await this.transactions.run(async (manager) => {
      await manager
        .createQueryBuilder()
        .insert()
        .into(FeedbackPositionEntity)
        .values({ feed: this.options.feed, position: '', updatedAt: now, leasedUntil: null })
        .orIgnore()
        .execute();
      const parameters = this.transactions.parameters();
      return runStatement<{ position: string }>(
        manager,
        `UPDATE feedback_position SET leased_until = ${parameters.add(leasedUntil)}
          WHERE feed = ${parameters.add(this.options.feed)}
            AND (leased_until IS NULL OR leased_until < ${parameters.add(now)})
      RETURNING position`,
        parameters.values,
      );
    });
    return rows.length === 0 ? undefined : { position: rows[0].position, leasedUntil };
  }

  /** Best effort: a lease that stays behind runs out by itself. Only this poll's own lease. */
  private async releaseLease(leasedUntil: number): Promise<void> {
    try {
      await this.transactions.run((manager) => {
        const parameters = this.transactions.parameters();
        return manager.query(
          `UPDATE feedback_position SET leased_until = NULL
            WHERE feed = ${parameters.add(this.options.feed)}
              AND leased_until = ${parameters.add(leasedUntil)}`,
          parameters.values,
        );
      });
    } catch (error) {
      this.logger.warn(
        `Flowmailer events lease not released (it runs out by itself): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private async read(position: string): Promise<PageRead> {
    const signal = this.stopped.signal;
    const page = await this.api.page(position, this.options.pageSize, signal);
    const messages = new Map<string, FlowmailerMessage | undefined>();
    const feedback: ProviderFeedback[] = [];
    const readAt = this.now();
    for (const event of page.events) {
      if (!isFeedbackEvent(event)) continue;
      if (!messages.has(event.messageId)) {
        const found = await this.api.message(event.messageId, signal);
        // Flowmailer no longer has the message: its events are passed over, the position moves on.
        if (!found)
          this.logger.warn(`Flowmailer message ${event.messageId} not found (404): its events are skipped`);
        messages.set(event.messageId, found);
      }
      const message = messages.get(event.messageId);
      const found = message && flowmailerFeedback(event, message, readAt);
      if (found) feedback.push(found);
    }
    return { feedback, events: page.events.length, next: page.nextPosition ?? position };
  }

  /**
   * Moves the position from where this poll read the page to the page's end, keeping the lease for
   * the next page (or ending it), then stores the page's notifications. False, storing nothing,
   * when the position is no longer where this poll read it from: another replica took over.
   */
  private async store(
    manager: EntityManager,
    position: string,
    read: PageRead,
    leasedUntil: number | null,
  ): Promise<boolean> {
    const now = this.now();
    const parameters = this.transactions.parameters();
    // position is NOT NULL, so a plain = compares the same on both databases.
    const moved = await runStatement<{ feed: string }>(
      manager,
      `UPDATE feedback_position
          SET position = ${parameters.add(read.next)}, leased_until = ${parameters.add(leasedUntil)},
              updated_at = ${parameters.add(now)}
        WHERE feed = ${parameters.add(this.options.feed)} AND position = ${parameters.add(position)}
    RETURNING feed`,
      parameters.values,
    );
    if (moved.length === 0) return false;
    if (read.feedback.length > 0) {
      await manager
        .createQueryBuilder()
        .insert()
        .into(ProviderNotificationEntity)
        .values(
          read.feedback.map((feedback) => ({
            provider: feedback.provider,
            eventId: feedback.eventId,
            feedback: JSON.stringify(feedback),
            state: NotificationState.Pending,
            attempts: 0,
            nextAttemptAt: now,
            messageId: null,
            receivedAt: now,
            processedAt: null,
          })),
        )
        .orIgnore()
        .execute();
    }
    return true;
  }
}
