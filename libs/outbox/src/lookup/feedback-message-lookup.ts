import { runStatement, SqlDialect, SqlParameters } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { storedAddresses } from '../history/message-recipients';

/** How provider feedback names the message it is about. */
export interface FeedbackMessageReference {
  /** The gateway's id, when the provider echoed it back. */
  readonly gatewayMessageId?: string;
  /** The driver that sent it: with providerMessageId, as recorded at delivery. */
  readonly provider: string;
  readonly providerMessageId?: string;
}

/** The message feedback is about: enough to record what happened to its recipients. */
export interface FeedbackMessage {
  readonly id: string;
  readonly source: string;
  /** Its to, cc and bcc addresses, lowercased, once each. */
  readonly recipients: readonly string[];
}

interface MessageRow {
  id: string;
  source: string;
  payload: string;
  content_key_id: string | null;
  recipients: string | null;
}

const COLUMNS = 'id, source, payload, content_key_id, recipients';

/**
 * Finds the message by the gateway's id first, else by the provider's id for it (indexed by
 * outbox_message_provider_message_id); null when neither matches yet, as when a notification
 * comes before the delivery recorded the provider's id.
 */
export async function findFeedbackMessage(
  manager: EntityManager,
  dialect: SqlDialect,
  reference: FeedbackMessageReference,
): Promise<FeedbackMessage | null> {
  if (reference.gatewayMessageId) {
    const parameters = new SqlParameters(dialect);
    const [row] = await runStatement<MessageRow>(
      manager,
      `SELECT ${COLUMNS} FROM outbox_message WHERE id = ${parameters.add(reference.gatewayMessageId)}`,
      parameters.values,
    );
    if (row) return toFeedbackMessage(row);
  }
  if (reference.providerMessageId) {
    const parameters = new SqlParameters(dialect);
    // A provider's ids are unique to it; should two messages share one, the newer is meant.
    const [row] = await runStatement<MessageRow>(
      manager,
      `SELECT ${COLUMNS} FROM outbox_message
        WHERE provider = ${parameters.add(reference.provider)}
          AND provider_message_id = ${parameters.add(reference.providerMessageId)}
        ORDER BY accepted_at DESC LIMIT 1`,
      parameters.values,
    );
    if (row) return toFeedbackMessage(row);
  }
  return null;
}

function toFeedbackMessage(row: MessageRow): FeedbackMessage {
  const addresses = storedAddresses({
    payload: row.payload,
    contentKeyId: row.content_key_id,
    recipients: row.recipients,
  });
  return { id: row.id, source: row.source, recipients: [...new Set(addresses)] };
}
