import { Injectable } from '@nestjs/common';
import { runStatement, TransactionRunner } from '@mailgateway/database';

/**
 * Deletes entries whose expiry has passed: they already stopped suppressing (every read skips
 * them), so deleting them changes no answer; it only keeps addresses no longer needed out of
 * the table. A retention sweep (the retention loop runs it with the others).
 */
@Injectable()
export class ExpiredSuppressions {
  readonly table = 'suppression_entry';

  constructor(private readonly transactions: TransactionRunner) {}

  purgeBatch(now: number, limit: number): Promise<number> {
    const parameters = this.transactions.parameters();
    const skipLocked = this.transactions.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return this.transactions.run(async (manager) => {
      // The partial index suppression_entry_expiry: a range scan up to now.
      const rows = await runStatement<{ address: string }>(
        manager,
        `DELETE FROM suppression_entry
          WHERE (address, scope) IN (
                SELECT address, scope FROM suppression_entry
                 WHERE expires_at IS NOT NULL AND expires_at <= ${parameters.add(now)}
                 ORDER BY expires_at
                 LIMIT ${parameters.add(limit)}${skipLocked})
         RETURNING address`,
        parameters.values,
      );
      return rows.length;
    });
  }
}
