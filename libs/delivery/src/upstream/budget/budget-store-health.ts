import { Logger } from '@nestjs/common';
import type { GatewayMetrics } from '@mailgateway/observability';

const FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * Whether the budget store answers, for every host at once. A failed call is only retried: a slow
 * or briefly unreachable store never lets a replica past its share. Only once every call has
 * failed for `downAfterMs` (the heartbeat TTL: by then the other replicas no longer count this
 * one's holdings either) is the store taken for down, and each replica keeps to its own last
 * known share until it answers again.
 */
export class BudgetStoreHealth {
  private readonly logger = new Logger('UpstreamBudget');
  private failingSince: number | null = null;
  private lastFailureLog = 0;

  constructor(
    readonly store: string,
    private readonly downAfterMs: number,
    private readonly metrics?: GatewayMetrics,
    private readonly clock: () => number = Date.now,
  ) {
    metrics?.recordUpstreamBudgetStore(store, true);
  }

  /** The store has failed every call for the whole heartbeat TTL. */
  get isDown(): boolean {
    return this.failingSince !== null && this.clock() - this.failingSince >= this.downAfterMs;
  }

  answered(): void {
    if (this.failingSince === null) return;
    const wasDown = this.isDown;
    this.failingSince = null;
    this.metrics?.recordUpstreamBudgetStore(this.store, true);
    if (wasDown)
      this.logger.log(`The ${this.store} budget store answers again: upstream budgets are shared again`);
  }

  failed(error: unknown): void {
    const now = this.clock();
    if (this.failingSince === null) {
      this.failingSince = now;
      this.metrics?.recordUpstreamBudgetStore(this.store, false);
    }
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLog = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `The ${this.store} budget store failed (${reason}); new upstream connections wait for it, and if it stays unreachable for ${this.downAfterMs} ms each replica keeps to its last known share of every budget until it answers`,
    );
  }
}
