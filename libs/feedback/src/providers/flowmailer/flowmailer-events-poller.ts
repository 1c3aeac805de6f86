import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { NotificationState, ProviderNotificationEntity } from '../../intake/provider-notification.entity';
import type { ProviderFeedback } from '../../provider-feedback';
import { FeedbackPositionEntity } from './feedback-position.entity';
import type { FlowmailerEventApi } from './flowmailer-event-api';
import { flowmailerFeedback, isFeedbackEvent } from './flowmailer-feedback';
import type { FlowmailerMessage } from './flowmailer-message-event';

// A long backlog is read in several polls, so one poll never holds the position for long.
const MAX_PAGES_PER_POLL = 10;

export interface FlowmailerEventsPollerOptions {
  /** The feed's row in feedback_position: one per Flowmailer account. */
  readonly feed: string;
  readonly pollMs: number;
  readonly pageSize: number;
}

/** What one page's poll did. */
export interface PagePoll {
  /** False when another replica holds the feed's position right now. */
  readonly polled: boolean;
  readonly eventsRead: number;
}

/**
 * Reads Flowmailer's message events from the stored position and stores those that say what
 * became of a recipient as provider_notification rows (once each: INSERT ... ON CONFLICT DO
 * NOTHING on the event id), with the new position, in one transaction per page. On PostgreSQL the
 * transaction holds the position row (FOR UPDATE SKIP LOCKED) while it reads the page, so one
 * replica polls at a time and the others skip; SQLite serves one process, so the page is read
 * before its transaction and the database is never held during the HTTP calls.
 */
export class FlowmailerEventsPoller implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(FlowmailerEventsPoller.name);
  private readonly stopped = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly options: FlowmailerEventsPollerOptions,
    private readonly api: FlowmailerEventApi,
    private readonly transactions: TransactionRunner,
    private readonly now: () => number = Date.now,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.pollMs > 0) this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Reads pages until the feed is caught up (a short page) or MAX_PAGES_PER_POLL were read. */
  async poll(): Promise<PagePoll[]> {
    const pages: PagePoll[] = [];
    for (let page = 0; page < MAX_PAGES_PER_POLL && !this.stopped.signal.aborted; page++) {
      const result = await this.pollPage();
      pages.push(result);
      if (!result.polled || result.eventsRead < this.options.pageSize) break;
    }
    return pages;
  }

  /** One page: read from the stored position, store its notifications and the next position. */
  async pollPage(): Promise<PagePoll> {
    await this.ensurePositionRow();
    if (this.transactions.dialect === 'sqlite') {
      const position = await this.transactions.read((manager) => this.position(manager, false));
      const read = await this.read(position ?? '');
      return this.transactions.run((manager) => this.store(manager, position ?? '', read));
    }
    return this.transactions.run(async (manager) => {
      const position = await this.position(manager, true);
      if (position === undefined) return { polled: false, eventsRead: 0 };
      return this.store(manager, position, await this.read(position));
    });
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

  private async ensurePositionRow(): Promise<void> {
    await this.transactions.run((manager) =>
      manager
        .createQueryBuilder()
        .insert()
        .into(FeedbackPositionEntity)
        .values({ feed: this.options.feed, position: '', updatedAt: this.now() })
        .orIgnore()
        .execute(),
    );
  }

  /** The stored position; undefined when another replica holds it (PostgreSQL, `lock`). */
  private async position(manager: EntityManager, lock: boolean): Promise<string | undefined> {
    const parameters = this.transactions.parameters();
    const feed = parameters.add(this.options.feed);
    const rows: { position: string }[] = await manager.query(
      `SELECT position FROM feedback_position WHERE feed = ${feed}${lock ? ' FOR UPDATE SKIP LOCKED' : ''}`,
      parameters.values,
    );
    return rows[0]?.position;
  }

  private async read(
    position: string,
  ): Promise<{ feedback: ProviderFeedback[]; events: number; next: string }> {
    const signal = this.stopped.signal;
    const page = await this.api.page(position, this.options.pageSize, signal);
    const messages = new Map<string, FlowmailerMessage | undefined>();
    const feedback: ProviderFeedback[] = [];
    const readAt = this.now();
    for (const event of page.events) {
      if (!isFeedbackEvent(event)) continue;
      if (!messages.has(event.messageId))
        messages.set(event.messageId, await this.api.message(event.messageId, signal));
      const message = messages.get(event.messageId);
      const found = message && flowmailerFeedback(event, message, readAt);
      if (found) feedback.push(found);
    }
    return { feedback, events: page.events.length, next: page.nextPosition ?? position };
  }

  private async store(
    manager: EntityManager,
    position: string,
    read: { feedback: ProviderFeedback[]; events: number; next: string },
  ): Promise<PagePoll> {
    const now = this.now();
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
    if (read.next !== position) {
      await manager
        .createQueryBuilder()
        .update(FeedbackPositionEntity)
        .set({ position: read.next, updatedAt: now })
        .where('feed = :feed', { feed: this.options.feed })
        .execute();
    }
    return { polled: true, eventsRead: read.events };
  }
}
