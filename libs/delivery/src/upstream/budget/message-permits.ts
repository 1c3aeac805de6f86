import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GatewayMetrics } from '@mailgateway/observability';
import { UpstreamUnavailableException } from '../upstream-unavailable.exception';
import type { BudgetStoreHealth } from './budget-store-health';
import type { PermitDecision, UpstreamBudgetStore } from './upstream-budget-store.interface';

/** Pause before asking a store that failed again, while it is not yet taken for down. */
const STORE_RETRY_MS = 50;

export interface MessagePermitsOptions {
  readonly host: string;
  /** The host's fleet-wide rate; no limit when absent. */
  readonly messagesPerSecond?: number;
  readonly maxWaitMs: number;
  readonly store: UpstreamBudgetStore;
  readonly health: BudgetStoreHealth;
  /** How many replicas share the host, as last seen (for the fallback), if known. */
  readonly replicas: () => number | undefined;
  /** Assumed when the replica count was never seen: the worst case, one per budget connection. */
  readonly worstCaseReplicas: number;
  readonly metrics?: GatewayMetrics;
}

/**
 * A host's fleet-wide message rate: before each request (each message) to the host, a send slot is
 * taken from one schedule the whole fleet shares, one interval (1 s / rate) after the previous
 * slot, and the caller waits until its slot. A slot further away than UPSTREAM_BUDGET_MAX_WAIT_MS
 * is not taken: the attempt ends as "unavailable, retry after" and the message is retried then.
 *
 * A failed store call is asked again shortly, within the same longest wait. Once the store is
 * down (BudgetStoreHealth) the replica keeps to its part of the rate on its own (rate ÷ replicas
 * last seen, or ÷ the budget's connections if it never saw them).
 */
export class MessagePermits {
  private localNextSlot = 0;

  constructor(private readonly options: MessagePermitsOptions) {}

  async take(signal?: AbortSignal): Promise<void> {
    const { messagesPerSecond, host, maxWaitMs, store, health, metrics } = this.options;
    if (!messagesPerSecond) return;
    const intervalMicros = 1_000_000 / messagesPerSecond;
    const startedAt = performance.now();
    let decision: PermitDecision | undefined;
    while (!decision) {
      const waitedMs = performance.now() - startedAt;
      try {
        decision = await store.reservePermit(
          host,
          intervalMicros,
          Math.max(0, Math.floor(maxWaitMs - waitedMs)),
        );
        health.answered();
      } catch (error) {
        health.failed(error);
        if (health.isDown) {
          const replicas = this.options.replicas() ?? this.options.worstCaseReplicas;
          decision = this.reserveLocally(intervalMicros * Math.max(1, replicas));
        } else if (waitedMs + STORE_RETRY_MS > maxWaitMs) {
          throw new UpstreamUnavailableException(
            `${host}: the store of its message rate did not answer within ${maxWaitMs} ms`,
          );
        } else {
          await sleep(STORE_RETRY_MS, undefined, { signal });
        }
      }
    }
    if ('retryAfterMs' in decision) {
      throw new UpstreamUnavailableException(
        `${host}: its message rate (${messagesPerSecond}/s for the fleet) has no send slot within ${maxWaitMs} ms`,
        { retryAfterMs: decision.retryAfterMs },
      );
    }
    if (decision.waitMs <= 0) return;
    metrics?.recordUpstreamBudgetWait(host, 'permit', decision.waitMs / 1000);
    await sleep(decision.waitMs, undefined, { signal });
  }

  private reserveLocally(intervalMicros: number): PermitDecision {
    const now = performance.now() * 1000;
    const slot = Math.max(this.localNextSlot, now);
    const waitMs = Math.ceil((slot - now) / 1000);
    if (waitMs > this.options.maxWaitMs) return { retryAfterMs: waitMs };
    this.localNextSlot = slot + intervalMicros;
    return { waitMs };
  }
}
