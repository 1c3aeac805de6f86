import { Injectable } from '@nestjs/common';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import type { ProviderFeedback } from '../provider-feedback';
import { NotificationState } from './provider-notification.entity';

/** Rows per statement: 6 parameters each stays far under SQLite's and PostgreSQL's limits. */
const ROWS_PER_STATEMENT = 1000;

export interface StoreResult {
  /** Notifications stored for the first time. */
  readonly stored: number;
  /** Notifications already stored (a provider's retry): nothing changed for them. */
  readonly duplicates: number;
}

/**
 * Stores verified notifications, once per (provider, event id), pending and due now. The insert
 * ignores rows already there (ON CONFLICT DO NOTHING), so a provider's retry after a lost answer
 * stores nothing new, on any number of replicas at once. Resolves only after the commit: the
 * listener answers 2xx after that and never before.
 */
@Injectable()
export class ProviderNotificationRepository {
  constructor(private readonly transactions: TransactionRunner) {}

  async store(feedback: readonly ProviderFeedback[], receivedAt: number): Promise<StoreResult> {
    const unique = [
      ...new Map(feedback.map((item) => [`${item.provider}\u0000${item.eventId}`, item])).values(),
    ];
    if (unique.length === 0) return { stored: 0, duplicates: 0 };
    const stored = await this.transactions.run(async (manager) => {
      let inserted = 0;
      for (let start = 0; start < unique.length; start += ROWS_PER_STATEMENT) {
        const parameters = this.transactions.parameters();
        const values = unique
          .slice(start, start + ROWS_PER_STATEMENT)
          .map(
            (item) =>
              `(${[
                item.provider,
                item.eventId,
                JSON.stringify(item),
                NotificationState.Pending,
                receivedAt,
                receivedAt,
              ]
                .map((value) => parameters.add(value))
                .join(', ')}, 0, NULL, NULL)`,
          );
        const rows = await runStatement<{ event_id: string }>(
          manager,
          `INSERT INTO provider_notification
             (provider, event_id, feedback, state, next_attempt_at, received_at, attempts, message_id, processed_at)
           VALUES ${values.join(', ')}
           ON CONFLICT (provider, event_id) DO NOTHING
           RETURNING event_id`,
          parameters.values,
        );
        inserted += rows.length;
      }
      return inserted;
    });
    return { stored, duplicates: feedback.length - stored };
  }
}
