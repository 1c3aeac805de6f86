import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ACTIVE_STATUSES } from './message-status';
import { TransactionRunner } from './transaction-runner';

export interface OutboxDepthReading {
  /** Messages not final yet, by status; every active status is present. */
  readonly byStatus: Record<string, number>;
  readonly oldestDueAgeSeconds: number;
}

interface DepthRow {
  status: string;
  count: string | number;
  oldest_due: string | number | null;
}

/** Cheap reads for probes and metrics: is the outbox usable, and how much is waiting in it. */
@Injectable()
export class OutboxMonitor {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
  ) {}

  /** Null when the database answers and its schema has no pending migration; otherwise why not. */
  async notReadyReason(): Promise<string | null> {
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      return 'database unreachable';
    }
    try {
      return (await this.dataSource.showMigrations()) ? 'database schema has pending migrations' : null;
    } catch {
      return 'database schema could not be read';
    }
  }

  /** One aggregate over active messages only (the partial due index covers them). */
  async depth(now = Date.now()): Promise<OutboxDepthReading> {
    const placeholder = this.transactions.dialect === 'postgres' ? '$1' : '?';
    const rows: DepthRow[] = await this.transactions.run((manager) =>
      manager.query(
        `SELECT status, COUNT(*) AS count,
                MIN(CASE WHEN next_attempt_at <= ${placeholder} THEN next_attempt_at END) AS oldest_due
           FROM outbox_message
          WHERE status IN (${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})
          GROUP BY status`,
        [now],
      ),
    );
    const byStatus: Record<string, number> = Object.fromEntries(ACTIVE_STATUSES.map((status) => [status, 0]));
    let oldestDue = now;
    for (const row of rows) {
      byStatus[row.status] = Number(row.count);
      if (row.oldest_due !== null) oldestDue = Math.min(oldestDue, Number(row.oldest_due));
    }
    return { byStatus, oldestDueAgeSeconds: (now - oldestDue) / 1000 };
  }
}
