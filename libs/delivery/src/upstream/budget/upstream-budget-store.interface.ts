import type { ConnectionDecision, FleetView } from './fair-share';

/** What one replica tells the store about one host: the whole truth each time, never a delta. */
export interface HoldingReport {
  readonly host: string;
  readonly replica: string;
  /** Connections the replica holds to the host now. */
  readonly held: number;
  /** The host's fleet-wide connection budget. */
  readonly budget: number;
  /** Whether the replica still has callers waiting for a connection (after this request). */
  readonly waiting: boolean;
}

/** A send slot on a host's fleet-wide message rate. */
export type PermitDecision =
  /** Send after this many milliseconds (0: now); the slot is taken. */
  | { readonly waitMs: number }
  /** The next free slot is further away than the caller may wait; nothing was taken. */
  | { readonly retryAfterMs: number };

/** How long store entries live, shared by every store. */
export interface FleetTimings {
  /** A replica not heard from for this long counts as gone (UPSTREAM_FLEET_HEARTBEAT_TTL_MS). */
  readonly heartbeatTtlMs: number;
  /** Shares rotate this often (UPSTREAM_CONNECTION_TTL_MS). */
  readonly rotationMs: number;
  /** A replica's "waiting" mark lasts this long unless renewed. */
  readonly wantingMs: number;
}

/**
 * The fleet's shared count of connections per upstream host, and its send-slot schedule. Every
 * call is atomic in the store, and carries the caller's whole standing on the host, so a lost
 * reply or a store restart is corrected by the next call (the heartbeat at the latest).
 */
export interface UpstreamBudgetStore {
  readonly kind: 'redis' | 'database' | 'process';
  /** Records the report and grants one more connection if the fair-share rule allows it. */
  requestConnection(report: HoldingReport): Promise<ConnectionDecision>;
  /** Records the report (after releases, and as the heartbeat). */
  report(report: HoldingReport): Promise<FleetView>;
  /** Forgets the replica on the host: its connections are closed (a clean shutdown). */
  leave(host: string, replica: string): Promise<void>;
  /**
   * Takes the next send slot on the host, `intervalMicros` after the previous one, unless it is
   * more than `maxWaitMs` away.
   */
  reservePermit(host: string, intervalMicros: number, maxWaitMs: number): Promise<PermitDecision>;
  close(): Promise<void>;
}

export const UPSTREAM_BUDGET_STORE = Symbol('UPSTREAM_BUDGET_STORE');
