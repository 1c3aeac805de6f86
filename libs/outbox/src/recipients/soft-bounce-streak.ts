import { runStatement, SqlDialect, SqlParameters } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { MessageEventType } from '../message-status';
import { fromRecipientEvent } from './recipient-events';
import { RecipientState } from './recipient-state';

interface OutcomeRow {
  message_id: string;
  type: MessageEventType;
  detail: string;
}

/**
 * How many different messages soft-bounced for `address` since its latest delivery (by the
 * providers' clocks), counting up to `limit`: enough to tell whether a streak reached it. Reads
 * at most a few rows per message through the message_event_recipient index.
 */
export async function countSoftBounceStreak(
  manager: EntityManager,
  dialect: SqlDialect,
  address: string,
  limit: number,
): Promise<number> {
  const parameters = new SqlParameters(dialect);
  const rows = await runStatement<OutcomeRow>(
    manager,
    `SELECT message_id, type, detail FROM message_event
      WHERE recipient = ${parameters.add(address.toLowerCase())}
        AND type IN (${parameters.add(MessageEventType.RecipientBounced)}, ${parameters.add(MessageEventType.RecipientDelivered)})
      ORDER BY occurred_at DESC, sequence DESC
      LIMIT ${parameters.add(limit * 4)}`,
    parameters.values,
  );
  const messages = new Set<string>();
  for (const row of rows) {
    if (row.type === MessageEventType.RecipientDelivered) break;
    if (fromRecipientEvent(row.type, row.detail)?.state === RecipientState.BouncedSoft)
      messages.add(row.message_id);
    if (messages.size >= limit) break;
  }
  return messages.size;
}
