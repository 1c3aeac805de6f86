import { Injectable } from '@nestjs/common';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import type { RetentionSweep } from '@mailgateway/outbox';
import type { EntityManager } from 'typeorm';
import { NotificationState } from './provider-notification.entity';

/**
 * Provider notifications hold the provider's words and the recipient's address. One that names a
 * message (message_id) is deleted with that message, in its purge, under its source's history
 * retention: it never outlives the message it was applied to. Every notification once processed
 * (or set aside as unmatched) is also deleted after the gateway's history retention: the only
 * bound for one that never matched a message, and a ceiling for the rest (what a notification
 * did is in its message's events, which stay with the message). A provider retrying one after
 * that would have it stored and applied again, to a message that is gone by then: it matches
 * nothing. Pending ones are never touched by the sweep.
 */
@Injectable()
export class ProviderNotificationRetention implements RetentionSweep {
  readonly table = 'provider_notification';

  constructor(private readonly transactions: TransactionRunner) {}

  purgeBatch(now: number, limit: number, historyRetentionMs: number): Promise<number> {
    const parameters = this.transactions.parameters();
    const skipLocked = this.transactions.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return this.transactions.run(async (manager) => {
      // The partial index provider_notification_done: a range scan up to the cutoff.
      const rows = await runStatement<{ event_id: string }>(
        manager,
        `DELETE FROM provider_notification
          WHERE (provider, event_id) IN (
                SELECT provider, event_id FROM provider_notification
                 WHERE state IN ('${NotificationState.Processed}', '${NotificationState.Unmatched}')
                   AND processed_at <= ${parameters.add(now - historyRetentionMs)}
                 ORDER BY processed_at
                 LIMIT ${parameters.add(limit)}${skipLocked})
         RETURNING event_id`,
        parameters.values,
      );
      return rows.length;
    });
  }

  /**
   * In the messages' purge. The partial index provider_notification_message serves the lookup
   * (EXPLAIN ANALYZE on PostgreSQL 15, 200,000 notifications: Bitmap Index Scan on it, 3 rows from
   * 16 buffers in 0.2 ms).
   */
  async purgeWithMessages(manager: EntityManager, messageIds: readonly string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const parameters = this.transactions.parameters();
    const rows = await runStatement<{ event_id: string }>(
      manager,
      `DELETE FROM provider_notification
        WHERE message_id IN (${messageIds.map((id) => parameters.add(id)).join(', ')})
        RETURNING event_id`,
      parameters.values,
    );
    return rows.length;
  }
}
