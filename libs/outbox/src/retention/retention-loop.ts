import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { MessageRetention } from './message-retention';
import { RetentionConfig, retentionConfig } from './retention.settings';
import { RETENTION_SWEEPS, RetentionSweep } from './retention-sweep';
import {
  retentionInForce,
  SOURCE_RETENTION_POLICIES,
  SourceRetention,
  SourceRetentionPolicies,
} from './source-retention';

/** What one round did, by table. */
export interface RetentionRound {
  readonly shredded: number;
  /** Legacy messages shredded whose payload could not be read (no recipients kept). */
  readonly unreadable: number;
  readonly purged: Readonly<Record<string, number>>;
  /** Sources and sweeps whose part of the round stopped on an error (logged with an id). */
  readonly failures: number;
  /** When the oldest final message still kept became final; null when none is. */
  readonly oldestFinalAt: number | null;
}

/**
 * The background loop that keeps the outbox from holding mail forever, on every replica. A round
 * walks every source with its retention in force: it shreds content past the body retention,
 * then deletes messages (with their events) past the history retention, then runs the other
 * libs' sweeps, each as batches of RETENTION_BATCH_SIZE rows in transactions of their own, the
 * next batch at once while batches come back full. Replicas share the work (SKIP LOCKED) rather
 * than repeat it. A source (or sweep) whose part fails is logged and counted, and the round goes
 * on with the next: one bad row never holds back every source after it. Nothing here runs inside a caller's transaction or holds a lock between
 * batches, so the accept and delivery paths only ever wait for one small batch's row locks.
 */
@Injectable()
export class RetentionLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionLoop.name);
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly messages: MessageRetention,
    @Inject(SOURCE_RETENTION_POLICIES) private readonly policies: SourceRetentionPolicies,
    @Inject(RETENTION_SWEEPS) private readonly sweeps: readonly RetentionSweep[],
    @InjectConfig(retentionConfig) private readonly config: RetentionConfig,
    private readonly metrics: GatewayMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.loop ??= this.run();
  }

  /** Stops between batches: a batch under way commits (or rolls back) first. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** One round as of `now` (tests pass their own clock). */
  async runRound(now = Date.now()): Promise<RetentionRound> {
    const sources = (await this.policies.list()).map((override) => retentionInForce(override, this.config));
    // Counted batch by batch: what a failing source did before it failed is counted too.
    const round = {
      shredded: 0,
      unreadable: 0,
      purged: { outbox_message: 0, message_event: 0 } as Record<string, number>,
      failures: 0,
      oldestFinalAt: null as number | null,
    };
    const count = (table: string, rows: number) => (round.purged[table] = (round.purged[table] ?? 0) + rows);
    for (const source of sources) {
      if (this.stopping.signal.aborted) break;
      await this.guarded(round, `source ${source.source}`, () =>
        this.retainSource(source, now, round, count),
      );
    }
    for (const sweep of this.sweeps) {
      if (this.stopping.signal.aborted) break;
      await this.guarded(round, `table ${sweep.table}`, () =>
        this.repeat(async (limit) => {
          const rows = await sweep.purgeBatch(now, limit, this.config.historyRetentionMs);
          count(sweep.table, rows);
          return rows;
        }),
      );
    }
    this.metrics.retentionRowsShredded.inc({ table: 'outbox_message' }, round.shredded);
    this.metrics.retentionUnreadablePayloads.inc(round.unreadable);
    for (const [table, rows] of Object.entries(round.purged)) {
      this.metrics.retentionRowsPurged.inc({ table }, rows);
    }
    const { oldestFinalAt } = round;
    this.metrics.retentionOldestFinalAge.set(oldestFinalAt === null ? 0 : (now - oldestFinalAt) / 1000);
    return round;
  }

  /** One source: content past its body retention, then messages past its history retention. */
  private async retainSource(
    source: SourceRetention,
    now: number,
    round: { shredded: number; unreadable: number; oldestFinalAt: number | null },
    count: (table: string, rows: number) => void,
  ): Promise<void> {
    await this.repeat(async (limit) => {
      const batch = await this.messages.shredBatch(source.source, now - source.bodyRetentionMs, limit, now);
      round.shredded += batch.shredded;
      round.unreadable += batch.unreadable;
      return batch.shredded;
    });
    // The sweeps' rows that name a message go in its purge, under the source's own retention.
    await this.repeat(async (limit) => {
      const batch = await this.messages.purgeBatch(
        source.source,
        now - source.historyRetentionMs,
        limit,
        this.sweeps,
      );
      count('outbox_message', batch.messages);
      count('message_event', batch.events);
      for (const [table, rows] of Object.entries(batch.alongside)) count(table, rows);
      return batch.messages;
    });
    const oldest = await this.messages.oldestFinal(source.source);
    if (oldest !== null) round.oldestFinalAt = Math.min(round.oldestFinalAt ?? oldest, oldest);
  }

  /** Runs one part of a round; a failure is logged with an id and counted, and the round goes on. */
  private async guarded(
    round: { failures: number },
    part: string,
    work: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await work();
    } catch (error) {
      const errorId = randomUUID();
      round.failures++;
      this.metrics.retentionRoundFailures.inc();
      this.logger.error(
        `Retention of ${part} failed (error ${errorId}): ${describe(error)}`,
        error instanceof Error ? error.stack : undefined,
      );
    }
  }

  /** Runs batches while they come back full and the process is not stopping; returns the total. */
  private async repeat(batch: (limit: number) => Promise<number>): Promise<number> {
    const limit = this.config.batchSize;
    let total = 0;
    for (;;) {
      const count = await batch(limit);
      total += count;
      if (count < limit || this.stopping.signal.aborted) return total;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.runRound();
      } catch (error) {
        this.metrics.retentionRoundFailures.inc();
        this.logger.warn(`Retention round failed: ${describe(error)}`);
      }
      await sleep(this.config.intervalMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
