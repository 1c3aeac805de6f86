import { performance } from 'node:perf_hooks';
import type { GatewayMetrics } from '@mailgateway/observability';
import type { ConnectionSlots } from '../connection-slots';
import type { BudgetStoreHealth } from './budget-store-health';
import type { FleetView } from './fair-share';
import type { HoldingReport, UpstreamBudgetStore } from './upstream-budget-store.interface';

/** A refused replica asks again after this, doubling up to the longest pause. */
const FIRST_PAUSE_MS = 25;
const LONGEST_PAUSE_MS = 500;
/** How long a replica's "waiting" mark lasts unless renewed: a few of its longest pauses. */
export const WAITING_MARK_MS = 4 * LONGEST_PAUSE_MS;

interface Waiter {
  readonly resolve: (release: () => void) => void;
  readonly reject: (error: unknown) => void;
  readonly since: number;
  detach(): void;
}

export interface FleetConnectionSlotsOptions {
  readonly host: string;
  readonly replica: string;
  /** The host's fleet-wide budget. */
  readonly budget: number;
  /** This process's own cap (UPSTREAM_MAX_CONNECTIONS): the lower of the two wins. */
  readonly localLimit: number;
  readonly store: UpstreamBudgetStore;
  readonly health: BudgetStoreHealth;
  readonly metrics?: GatewayMetrics;
}

/**
 * Connection slots for one upstream host within the fleet-wide budget: each new connection is
 * granted by the budget store under the fair-share rule (fair-share.ts), and never more than the
 * local limit are held. Callers wait in arrival order; a refused replica asks again after a short,
 * growing pause, or at once when one of its own connections closes.
 *
 * This replica's holdings are its own truth: every call to the store carries them whole, so the
 * store is corrected by the next call after a lost answer or an outage. Calls go one at a time.
 *
 * A failed store call is retried like a refusal: a slow store never lets a replica past the
 * budget. When the store has been unreachable for the heartbeat TTL (BudgetStoreHealth), the
 * replica keeps the connections it has and opens new ones up to its last known share (1 if it
 * never reached the store). Shares last seen at different moments need not add up to the budget
 * (they rotate, and a share of 0 still takes 1), so a fleet cut off from its store may exceed the
 * budget by about one connection per replica; replicas cut off while others still reach it may
 * together exceed it by their shares, until the store answers again.
 */
export class FleetConnectionSlots implements ConnectionSlots {
  private held = 0;
  private view: FleetView | null = null;
  private readonly waiting: Waiter[] = [];
  private closedWith: Error | null = null;
  private left = false;
  private asking = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private pauseMs = FIRST_PAUSE_MS;
  private reportQueued = false;
  private calls: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: FleetConnectionSlotsOptions) {}

  get inUse(): number {
    return this.held;
  }

  /** This replica's share as the store last said it (the budget before any answer). */
  get share(): number {
    return this.view?.share ?? this.options.budget;
  }

  /** Live replicas using the host as the store last said it, if it ever answered. */
  get replicas(): number | undefined {
    return this.view?.replicas;
  }

  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, since: performance.now(), detach: () => undefined };
      if (signal) {
        const onAbort = () => {
          this.removeWaiter(waiter);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(waiter);
      this.pump();
    });
  }

  close(error: Error): void {
    this.closedWith = error;
    this.stopRetrying();
    for (const waiter of this.waiting.splice(0)) {
      waiter.detach();
      waiter.reject(error);
    }
  }

  /** The heartbeat: tells the store this replica is alive and what it holds. */
  heartbeat(): Promise<void> {
    return this.serially(() => this.sendReport());
  }

  /** Forgets this replica on the host (its connections are closed): the others share at once. */
  leave(): Promise<void> {
    return this.serially(async () => {
      if (this.left) return;
      this.left = true;
      await this.options.store.leave(this.options.host, this.options.replica).catch(() => undefined);
    });
  }

  private pump(): void {
    if (this.closedWith || this.asking || this.retryTimer || this.waiting.length === 0) return;
    if (this.held >= this.options.localLimit) return; // a release here calls pump again
    this.asking = true;
    void this.serially(() => this.ask()).finally(() => {
      this.asking = false;
      this.pump();
    });
  }

  private async ask(): Promise<void> {
    if (this.waiting.length === 0 || this.closedWith) return;
    let granted: boolean;
    try {
      const decision = await this.options.store.requestConnection(this.standing(this.wantsMore(1)));
      this.options.health.answered();
      this.learn(decision);
      granted = decision.granted;
    } catch (error) {
      this.options.health.failed(error);
      granted = this.options.health.isDown && this.held < Math.max(1, this.view?.share ?? 1);
    }
    if (!granted) {
      this.retryLater();
      return;
    }
    this.pauseMs = FIRST_PAUSE_MS;
    this.held++;
    this.options.metrics?.recordUpstreamConnections(this.options.host, this.held);
    const waiter = this.waiting.shift();
    if (!waiter) {
      this.releaseOne(); // the caller left while the store was asked
      return;
    }
    waiter.detach();
    this.options.metrics?.recordUpstreamBudgetWait(
      this.options.host,
      'connection',
      (performance.now() - waiter.since) / 1000,
    );
    waiter.resolve(this.releaser());
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.releaseOne();
    };
  }

  private releaseOne(): void {
    this.held--;
    this.options.metrics?.recordUpstreamConnections(this.options.host, this.held);
    if (this.waiting.length > 0) {
      // The next request carries the new count; a freed connection is offered to a waiter at once.
      this.stopRetrying();
      this.pump();
      return;
    }
    if (this.reportQueued) return;
    this.reportQueued = true;
    void this.serially(async () => {
      this.reportQueued = false;
      await this.sendReport();
    });
  }

  private async sendReport(): Promise<void> {
    if (this.left) return;
    try {
      this.learn(await this.options.store.report(this.standing(this.wantsMore(0))));
      this.options.health.answered();
    } catch (error) {
      this.options.health.failed(error);
    }
  }

  /**
   * Whether callers will still wait once `granting` more are granted, for connections this
   * process may still open: a replica at its own limit leaves its unused share to the others.
   */
  private wantsMore(granting: number): boolean {
    return this.waiting.length > granting && this.held + granting < this.options.localLimit;
  }

  private standing(waiting: boolean): HoldingReport {
    const { host, replica, budget } = this.options;
    return { host, replica, held: this.held, budget, waiting };
  }

  private learn(view: FleetView): void {
    this.view = view;
    this.options.metrics?.recordUpstreamShare(this.options.host, view.share, view.replicas);
  }

  private retryLater(): void {
    const pause = this.pauseMs * (0.5 + Math.random() / 2);
    this.pauseMs = Math.min(this.pauseMs * 2, LONGEST_PAUSE_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, pause);
    this.retryTimer.unref();
  }

  private stopRetrying(): void {
    if (!this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private removeWaiter(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  /** Store calls one at a time, in order: each carries the whole truth, so order is what counts. */
  private serially<T>(call: () => Promise<T>): Promise<T> {
    const result = this.calls.then(call, call);
    this.calls = result.catch(() => undefined);
    return result;
  }
}
