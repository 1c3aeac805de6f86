import { runStatement, TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { ConnectionDecision, decideConnection, FleetHolding, FleetView, fleetView } from './fair-share';
import type {
  FleetTimings,
  HoldingReport,
  PermitDecision,
  UpstreamBudgetStore,
} from './upstream-budget-store.interface';

/** Milliseconds since the epoch on the database's clock, so replicas' clocks do not matter. */
const CLOCK_MS = {
  postgres: '(extract(epoch from clock_timestamp()) * 1000)::bigint',
  sqlite: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
} as const;

interface HoldingRow {
  replica: string;
  held: number | string;
  wanting_until: number | string;
}

/**
 * The budget in the outbox's database (tables upstream_budget_holding and upstream_send_slot),
 * for fleets without Redis. Each call is one transaction that holds the host's lock: on
 * PostgreSQL a transaction-scoped advisory lock on the host, on SQLite the database's one writer
 * (the transaction writes first, so it takes the write lock before it reads anything).
 */
export class DatabaseUpstreamBudgetStore implements UpstreamBudgetStore {
  readonly kind = 'database';

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly timings: FleetTimings,
  ) {}

  requestConnection(report: HoldingReport): Promise<ConnectionDecision> {
    return this.transactions.run(async (manager) => {
      const { now, holdings } = await this.record(manager, report);
      const decision = decideConnection(
        holdings,
        report.replica,
        report.budget,
        now,
        this.timings.rotationMs,
      );
      const wantingUntil = decision.granted && !report.waiting ? 0 : now + this.timings.wantingMs;
      await this.update(manager, report, report.held + (decision.granted ? 1 : 0), wantingUntil);
      return decision;
    });
  }

  report(report: HoldingReport): Promise<FleetView> {
    return this.transactions.run(async (manager) => {
      const { now, holdings } = await this.record(manager, report);
      await this.update(manager, report, report.held, report.waiting ? now + this.timings.wantingMs : 0);
      return fleetView(holdings, report.replica, report.budget, now, this.timings.rotationMs);
    });
  }

  async leave(host: string, replica: string): Promise<void> {
    await this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      await manager.query(
        `DELETE FROM upstream_budget_holding WHERE host = ${parameters.add(host)} AND replica = ${parameters.add(replica)}`,
        parameters.values,
      );
    });
  }

  reservePermit(host: string, intervalMicros: number, maxWaitMs: number): Promise<PermitDecision> {
    const clock = `${CLOCK_MS[this.transactions.dialect]} * 1000`;
    return this.transactions.run(async (manager) => {
      const insert = this.transactions.parameters();
      // Writes first (the host's row, if new): on SQLite that takes the write lock before the read.
      await manager.query(
        `INSERT INTO upstream_send_slot (host, next_at) VALUES (${insert.add(host)}, 0) ON CONFLICT (host) DO NOTHING`,
        insert.values,
      );
      const select = this.transactions.parameters();
      const lock = this.transactions.dialect === 'postgres' ? ' FOR UPDATE' : '';
      const [row] = await runStatement<{ next_at: number | string; now: number | string }>(
        manager,
        `SELECT next_at, ${clock} AS now FROM upstream_send_slot WHERE host = ${select.add(host)}${lock}`,
        select.values,
      );
      const now = Number(row.now);
      const slot = Math.max(Number(row.next_at), now);
      const waitMs = Math.ceil((slot - now) / 1000);
      if (waitMs > maxWaitMs) return { retryAfterMs: waitMs };
      const update = this.transactions.parameters();
      await manager.query(
        `UPDATE upstream_send_slot SET next_at = ${update.add(Math.round(slot + intervalMicros))} WHERE host = ${update.add(host)}`,
        update.values,
      );
      return { waitMs };
    });
  }

  async close(): Promise<void> {}

  /**
   * Takes the host's lock, writes the replica's standing and heartbeat, forgets replicas whose
   * heartbeat expired, and reads every live holding.
   */
  private async record(
    manager: EntityManager,
    report: HoldingReport,
  ): Promise<{ now: number; holdings: FleetHolding[] }> {
    const { dialect } = this.transactions;
    if (dialect === 'postgres') {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`upstream-budget:${report.host}`]);
    }
    const upsert = this.transactions.parameters();
    const [{ now }] = await runStatement<{ now: number | string }>(
      manager,
      `INSERT INTO upstream_budget_holding (host, replica, held, expires_at, wanting_until)
       VALUES (${upsert.add(report.host)}, ${upsert.add(report.replica)}, ${upsert.add(report.held)},
               ${CLOCK_MS[dialect]} + ${upsert.add(this.timings.heartbeatTtlMs)}, 0)
       ON CONFLICT (host, replica) DO UPDATE SET held = excluded.held, expires_at = excluded.expires_at
       RETURNING expires_at - ${upsert.add(this.timings.heartbeatTtlMs)} AS now`,
      upsert.values,
    );
    const sweep = this.transactions.parameters();
    await manager.query(
      `DELETE FROM upstream_budget_holding WHERE host = ${sweep.add(report.host)} AND expires_at <= ${sweep.add(Number(now))}`,
      sweep.values,
    );
    const select = this.transactions.parameters();
    const rows = await runStatement<HoldingRow>(
      manager,
      `SELECT replica, held, wanting_until FROM upstream_budget_holding WHERE host = ${select.add(report.host)}`,
      select.values,
    );
    return {
      now: Number(now),
      holdings: rows.map((row) => ({
        replica: row.replica,
        held: Number(row.held),
        wantingUntil: Number(row.wanting_until),
      })),
    };
  }

  private async update(
    manager: EntityManager,
    report: HoldingReport,
    held: number,
    wantingUntil: number,
  ): Promise<void> {
    const parameters = this.transactions.parameters();
    await manager.query(
      `UPDATE upstream_budget_holding SET held = ${parameters.add(held)}, wanting_until = ${parameters.add(wantingUntil)}
       WHERE host = ${parameters.add(report.host)} AND replica = ${parameters.add(report.replica)}`,
      parameters.values,
    );
  }
}
