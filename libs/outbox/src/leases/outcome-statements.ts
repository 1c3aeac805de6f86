import { ArrayColumn, SqlParameters, unnestRows } from '@mailgateway/database';
import { MessageEventType, MessageStatus } from '../message-status';

/** One attempt's outcome, in the columns the statements below read; rows give values in this order. */
const OUTCOME_COLUMNS: readonly ArrayColumn[] = [
  { name: 'id', type: 'text' },
  { name: 'lease_token', type: 'integer' },
  { name: 'status', type: 'text' },
  { name: 'next_attempt_at', type: 'bigint' },
  { name: 'provider', type: 'text' },
  { name: 'provider_message_id', type: 'text' },
  { name: 'last_error', type: 'text' },
  { name: 'spared', type: 'integer' },
  { name: 'source', type: 'text' },
  { name: 'attempt', type: 'integer' },
  { name: 'event_type', type: 'text' },
  { name: 'detail', type: 'text' },
  { name: 'cancelled_detail', type: 'text' },
];

/**
 * PostgreSQL, the usual group (no recipient left out or refused): one statement, its own
 * transaction. The fenced UPDATE and the event of each row it changed; returns those rows (id,
 * status). One array per column, so the text is the same for any group size: it is prepared once
 * per connection, never parsed again. (It is still planned on every run, for that run's group:
 * a generic plan, costed for no group in particular, may scan the whole outbox.)
 */
export function recordOutcomesStatement(
  parameters: SqlParameters,
  rows: readonly (readonly unknown[])[],
  now: number,
  recordedAt: number,
): string {
  const outcome = `outcome AS (SELECT * FROM ${unnestRows(parameters, 'o', OUTCOME_COLUMNS, rows)})`;
  const at = parameters.add(now);
  return `WITH ${outcome}, ${LOCK_IN_ID_ORDER}, changed AS (${fencedUpdate(at, true)}),
          recorded AS (
            INSERT INTO message_event (message_id, source, type, attempt, detail, occurred_at, recorded_at, provider)
            SELECT changed.id, outcome.source, ${cancelledWhen('event_type')}, outcome.attempt,
                   ${cancelledWhen('detail')}, CAST(${at} AS BIGINT), CAST(${parameters.add(recordedAt)} AS BIGINT), outcome.provider
              FROM changed JOIN outcome ON outcome.id = changed.id)
          SELECT id, status FROM changed`;
}

/**
 * The fenced UPDATE alone (the caller writes the events in the same transaction): on SQLite, and
 * for groups with recipients' events, which go between the UPDATE and the messages' own.
 */
export function fencedUpdateStatement(
  parameters: SqlParameters,
  postgres: boolean,
  rows: readonly (readonly unknown[])[],
  now: number,
): string {
  const values = rows.map(
    (row) =>
      `(${row
        .map((value, index) => {
          const { type } = OUTCOME_COLUMNS[index];
          const placeholder = parameters.add(value);
          return type === 'text' ? placeholder : `CAST(${placeholder} AS ${type.toUpperCase()})`;
        })
        .join(', ')})`,
  );
  const outcome = `outcome (${OUTCOME_COLUMNS.map(({ name }) => name).join(', ')}) AS (VALUES ${values.join(', ')})`;
  return `WITH ${outcome}${postgres ? `, ${LOCK_IN_ID_ORDER}` : ''} ${fencedUpdate(parameters.add(now), postgres)}`;
}

/**
 * On PostgreSQL the rows are locked in id order first, as a cancel of many messages locks them:
 * the UPDATE alone takes them in whatever order its plan visits them, and two such orders can
 * deadlock. In the same statement, so the hot path pays no extra round trip.
 */
const LOCK_IN_ID_ORDER =
  'locked AS MATERIALIZED (SELECT id FROM outbox_message WHERE id IN (SELECT id FROM outcome) ORDER BY id FOR UPDATE)';

/**
 * A row changes only while it is still sending under the same lease token. A retry of a message
 * whose cancel came during the attempt ends it CANCELLED instead.
 */
function fencedUpdate(updatedAt: string, postgres: boolean): string {
  return `UPDATE outbox_message
            SET status = CASE WHEN outcome.status = '${MessageStatus.Retrying}'
                               AND outbox_message.cancel_requested_at IS NOT NULL
                              THEN '${MessageStatus.Cancelled}' ELSE outcome.status END,
                next_attempt_at = COALESCE(outcome.next_attempt_at, outbox_message.next_attempt_at),
                provider = COALESCE(outcome.provider, outbox_message.provider),
                provider_message_id = COALESCE(outcome.provider_message_id, outbox_message.provider_message_id),
                last_error = outcome.last_error,
                spared_attempts = outbox_message.spared_attempts + outcome.spared,
                updated_at = ${updatedAt}
           FROM outcome
          WHERE outbox_message.id = outcome.id
            AND outbox_message.lease_token = outcome.lease_token
            AND outbox_message.status = '${MessageStatus.Sending}'${
              postgres ? ' AND outbox_message.id IN (SELECT id FROM locked)' : ''
            }
         RETURNING outbox_message.id, outbox_message.status`;
}

/** A retry that became the end of a message cancelled during its attempt: the event it records. */
function cancelledWhen(column: 'event_type' | 'detail'): string {
  const cancelled = column === 'event_type' ? `'${MessageEventType.Cancelled}'` : 'outcome.cancelled_detail';
  return `CASE WHEN outcome.status = '${MessageStatus.Retrying}' AND changed.status = '${MessageStatus.Cancelled}'
               THEN ${cancelled} ELSE outcome.${column} END`;
}
