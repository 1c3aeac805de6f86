import type { SqlDialect } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import type { RecipientState } from './recipient-state';

/** Something that happened to one recipient of one message. */
export interface RecipientUpdate {
  readonly messageId: string;
  /** The message's source: the feed its event belongs to. */
  readonly source: string;
  /** Lowercased. */
  readonly address: string;
  readonly state: RecipientState;
  /** For people: the provider's diagnostic, the suppression's reason. */
  readonly detail: string;
  /** When it happened, by the provider's clock for feedback (epoch ms). */
  readonly occurredAt: number;
  /** The driver whose feedback it is, or that handled the attempt. */
  readonly provider?: string | null;
  /** The attempt it belongs to; 0 for feedback outside an attempt. */
  readonly attempt?: number;
}

/**
 * Applies updates in the caller's transaction: each moves its recipient's row (message_recipient)
 * only when the precedence allows it, and each change appends one RECIPIENT_* event. Returns the
 * updates that changed something; a duplicate or an overruled update changes nothing.
 */
export function applyRecipientUpdates(
  _manager: EntityManager,
  _dialect: SqlDialect,
  _updates: readonly RecipientUpdate[],
): Promise<RecipientUpdate[]> {
  throw new Error('applyRecipientUpdates: not written yet');
}
