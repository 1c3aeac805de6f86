import { insertRows, SqlDialect } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import type { MessageEventType } from './message-status';

/** Longest detail or error text kept in the outbox. */
const MAX_DETAIL_LENGTH = 1000;

/** One row of a message's history, to be appended. */
export interface NewEvent {
  readonly messageId: string;
  /** The message's source: the feed the event belongs to. */
  readonly source: string;
  readonly type: MessageEventType;
  readonly attempt: number;
  readonly detail: string;
  readonly occurredAt: number;
  /** The driver that handled the attempt, on the events that end one. */
  readonly provider?: string | null;
  /** The recipient the event is about, when it is about one. */
  readonly recipient?: string | null;
}

/** message_event's columns an append writes, in the order eventValues gives them. */
export const EVENT_COLUMNS = [
  'message_id',
  'source',
  'type',
  'attempt',
  'detail',
  'occurred_at',
  'recorded_at',
  'provider',
  'recipient',
] as const;

/** An event's values in EVENT_COLUMNS order. */
export function eventValues(event: NewEvent, recordedAt: number): unknown[] {
  return [
    event.messageId,
    event.source,
    event.type,
    event.attempt,
    truncate(event.detail),
    event.occurredAt,
    recordedAt,
    event.provider ?? null,
    // Lowercased, as addresses are matched: the message_event_recipient index serves `recipient = ?`.
    event.recipient?.toLowerCase() ?? null,
  ];
}

/**
 * Appends events with one multi-row INSERT, in the caller's transaction. On PostgreSQL the
 * database stamps each row with the writing transaction's id (commit_xid), which orders the feed.
 * After the commit, tell FeedSignal which sources got events.
 */
export function insertEvents(
  manager: EntityManager,
  dialect: SqlDialect,
  events: readonly NewEvent[],
): Promise<void> {
  const recordedAt = Date.now();
  return insertRows(
    manager,
    dialect,
    'message_event',
    EVENT_COLUMNS,
    events.map((event) => eventValues(event, recordedAt)),
  );
}

export function truncate(text: string): string {
  return text.length > MAX_DETAIL_LENGTH ? `${text.slice(0, MAX_DETAIL_LENGTH - 1)}…` : text;
}
