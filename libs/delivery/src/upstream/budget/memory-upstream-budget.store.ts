import { ConnectionDecision, decideConnection, FleetHolding, FleetView, fleetView } from './fair-share';
import type {
  FleetTimings,
  HoldingReport,
  PermitDecision,
  UpstreamBudgetStore,
} from './upstream-budget-store.interface';

interface Entry {
  held: number;
  expiresAt: number;
  wantingUntil: number;
}

/**
 * The budget kept in this process (UPSTREAM_BUDGET_STORE=process): one replica, so its share is the
 * whole budget. Several registries in one process (tests) share it as replicas would.
 */
export class MemoryUpstreamBudgetStore implements UpstreamBudgetStore {
  readonly kind = 'process';
  private readonly hosts = new Map<string, Map<string, Entry>>();
  private readonly nextSlots = new Map<string, number>();

  constructor(
    private readonly timings: FleetTimings,
    private readonly clock: () => number = Date.now,
  ) {}

  async requestConnection(report: HoldingReport): Promise<ConnectionDecision> {
    const now = this.clock();
    const entries = this.record(report, now);
    const decision = decideConnection(
      holdingsOf(entries),
      report.replica,
      report.budget,
      now,
      this.timings.rotationMs,
    );
    const mine = entries.get(report.replica)!;
    if (decision.granted) mine.held++;
    mine.wantingUntil = decision.granted && !report.waiting ? 0 : now + this.timings.wantingMs;
    return decision;
  }

  async report(report: HoldingReport): Promise<FleetView> {
    const now = this.clock();
    const entries = this.record(report, now);
    entries.get(report.replica)!.wantingUntil = report.waiting ? now + this.timings.wantingMs : 0;
    return fleetView(holdingsOf(entries), report.replica, report.budget, now, this.timings.rotationMs);
  }

  async leave(host: string, replica: string): Promise<void> {
    this.hosts.get(host)?.delete(replica);
  }

  async reservePermit(host: string, intervalMicros: number, maxWaitMs: number): Promise<PermitDecision> {
    const now = this.clock() * 1000;
    const slot = Math.max(this.nextSlots.get(host) ?? 0, now);
    const waitMs = Math.ceil((slot - now) / 1000);
    if (waitMs > maxWaitMs) return { retryAfterMs: waitMs };
    this.nextSlots.set(host, slot + intervalMicros);
    return { waitMs };
  }

  async close(): Promise<void> {}

  /** Writes the report and forgets replicas whose heartbeat has expired. */
  private record(report: HoldingReport, now: number): Map<string, Entry> {
    let entries = this.hosts.get(report.host);
    if (!entries) {
      entries = new Map();
      this.hosts.set(report.host, entries);
    }
    for (const [replica, entry] of entries) if (entry.expiresAt <= now) entries.delete(replica);
    const entry = entries.get(report.replica) ?? { held: 0, expiresAt: 0, wantingUntil: 0 };
    entry.held = report.held;
    entry.expiresAt = now + this.timings.heartbeatTtlMs;
    entries.set(report.replica, entry);
    return entries;
  }
}

function holdingsOf(entries: Map<string, Entry>): FleetHolding[] {
  return [...entries].map(([replica, { held, wantingUntil }]) => ({ replica, held, wantingUntil }));
}
