import { Injectable } from '@nestjs/common';
import { TransactionRunner } from '@mailgateway/database';
import { ACTIVE_STATUSES } from './message-status';

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

/** How much is waiting in the outbox, for the metrics. */
@Injectable()
export class OutboxMonitor {
  constructor(private readonly transactions: TransactionRunner) {}

  /** One aggregate over active messages only (the partial due index covers them). */
  async depth(now = Date.now()): Promise<OutboxDepthReading> {
    const parameters = this.transactions.parameters();
    const rows: DepthRow[] = await this.transactions.run((manager) =>
      manager.query(
        `SELECT status, COUNT(*) AS count,
                MIN(CASE WHEN next_attempt_at <= ${parameters.add(now)} THEN next_attempt_at END) AS oldest_due
           FROM outbox_message
          WHERE status IN (${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})
          GROUP BY status`,
        parameters.values,
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
