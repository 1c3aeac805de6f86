import { runStatement, SqlDialect, SqlParameters } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { insertEvents, NewEvent } from '../event-rows';
import type { MessageEventType } from '../message-status';
import { isRecordedState, toRecipientEvent } from './recipient-events';
import { foldRecipientStates, RecipientOutcome, supersedes } from './recipient-precedence';
import type { RecipientState } from './recipient-state';

/** Something that happened to one recipient of one message. */
export interface RecipientUpdate {
  readonly messageId: string;
  /** The message's source: the feed its event belongs to. */
  readonly source: string;
  /** Lowercased. */
  readonly address: string;
  /** Any state but pending and sent, which are derived from the message, never recorded. */
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

interface RecipientEventRecord {
  message_id: string;
  type: MessageEventType;
  detail: string;
  occurred_at: number | string;
  provider: string | null;
  recipient: string;
}

/**
 * Applies updates in the caller's transaction. A recipient's state is the fold of its message's
 * RECIPIENT_* events (foldRecipientStates), so an update that the precedence lets through appends
 * one event and nothing else; a duplicate or an overruled update appends nothing. Returns the
 * updates that changed something, in the order given.
 *
 * Concurrent callers on one message take turns: on PostgreSQL the messages' rows are locked (in id
 * order, so two callers cannot deadlock) before their events are read; SQLite has one writer.
 * After the commit the caller tells FeedSignal.published(sources) of the changed updates' sources.
 */
export async function applyRecipientUpdates(
  manager: EntityManager,
  dialect: SqlDialect,
  given: readonly RecipientUpdate[],
): Promise<RecipientUpdate[]> {
  let updates = given;
  if (updates.length === 0) return [];
  let messageIds = [...new Set(updates.map((update) => update.messageId))].sort();
  if (dialect === 'postgres') {
    const lock = new SqlParameters(dialect);
    const locked = await runStatement<{ id: string }>(
      manager,
      `SELECT id FROM outbox_message WHERE id IN (${messageIds.map((id) => lock.add(id)).join(', ')})
        ORDER BY id FOR UPDATE`,
      lock.values,
    );
    // A message retention deleted while this waited for its lock takes no events: they would
    // outlive it, and nothing would ever purge them.
    const kept = new Set(locked.map((row) => row.id));
    updates = updates.filter((update) => kept.has(update.messageId));
    messageIds = messageIds.filter((id) => kept.has(id));
    if (updates.length === 0) return [];
  }
  const recordedStates = updates.map(({ state }) => {
    if (!isRecordedState(state))
      throw new Error(`a recipient update cannot record the derived state ${state}`);
    return state;
  });
  const outcomes = await readOutcomes(manager, dialect, messageIds);

  const changed: RecipientUpdate[] = [];
  const events: NewEvent[] = [];
  for (const [index, update] of updates.entries()) {
    const address = update.address.toLowerCase();
    const ofMessage = outcomes.get(update.messageId) ?? new Map<string, RecipientOutcome>();
    outcomes.set(update.messageId, ofMessage);
    if (!supersedes(ofMessage.get(address), update)) continue;
    const provider = update.provider ?? null;
    ofMessage.set(address, {
      state: update.state,
      detail: update.detail,
      updatedAt: update.occurredAt,
      provider,
    });
    changed.push(update);
    events.push({
      messageId: update.messageId,
      source: update.source,
      ...toRecipientEvent(recordedStates[index], update.detail),
      attempt: update.attempt ?? 0,
      occurredAt: update.occurredAt,
      provider,
      recipient: address,
    });
  }
  await insertEvents(manager, dialect, events);
  return changed;
}

/** Each message's recipients as its events leave them, with one query. */
async function readOutcomes(
  manager: EntityManager,
  dialect: SqlDialect,
  messageIds: readonly string[],
): Promise<Map<string, Map<string, RecipientOutcome>>> {
  const parameters = new SqlParameters(dialect);
  const rows = await runStatement<RecipientEventRecord>(
    manager,
    `SELECT message_id, type, detail, occurred_at, provider, recipient FROM message_event
      WHERE message_id IN (${messageIds.map((id) => parameters.add(id)).join(', ')})
        AND recipient IS NOT NULL
      ORDER BY sequence`,
    parameters.values,
  );
  const byMessage = new Map<string, RecipientEventRecord[]>();
  for (const row of rows) {
    const ofMessage = byMessage.get(row.message_id) ?? [];
    ofMessage.push(row);
    byMessage.set(row.message_id, ofMessage);
  }
  return new Map(
    [...byMessage].map(([messageId, ofMessage]) => [
      messageId,
      foldRecipientStates(
        ofMessage.map((row) => ({
          type: row.type,
          detail: row.detail,
          occurredAt: Number(row.occurred_at),
          provider: row.provider,
          recipient: row.recipient,
        })),
      ),
    ]),
  );
}
