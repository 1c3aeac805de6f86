import type { SqlParameters } from '@mailgateway/database';
import { ACTIVE_STATUSES, MessageStatus } from '../message-status';

/**
 * The claim: leases up to `limit` messages due at `now` for one attempt each, oldest due first;
 * a due row with a cancel requested ends cancelled instead. The inner SELECT is a range scan of
 * the partial index outbox_message_due (its predicate is the same status list), so it reads only
 * what is due, however many messages wait for a later time. On PostgreSQL, SKIP LOCKED lets
 * replicas claim side by side without taking the same row. `excluding` names messages the
 * claiming process is still sending though their lease ran out: it must not claim them again.
 */
export function claimDueStatement(
  parameters: SqlParameters,
  postgres: boolean,
  {
    now,
    limit,
    leaseMs,
    excluding = [],
  }: { now: number; limit: number; leaseMs: number; excluding?: readonly string[] },
): string {
  return `UPDATE outbox_message
            SET status = CASE WHEN cancel_requested_at IS NULL THEN '${MessageStatus.Sending}'
                              ELSE '${MessageStatus.Cancelled}' END,
                attempts = CASE WHEN cancel_requested_at IS NULL THEN attempts + 1 ELSE attempts END,
                lease_token = lease_token + 1,
                next_attempt_at = ${parameters.add(now + leaseMs)}, updated_at = ${parameters.add(now)}
          WHERE id IN (SELECT id FROM outbox_message
                        WHERE status IN (${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})
                          AND next_attempt_at <= ${parameters.add(now)}${
                            excluding.length > 0
                              ? ` AND id NOT IN (${excluding.map((id) => parameters.add(id)).join(', ')})`
                              : ''
                          }
                        ORDER BY next_attempt_at
                        LIMIT ${parameters.add(limit)}${postgres ? ' FOR UPDATE SKIP LOCKED' : ''})
          RETURNING id, status, source, idempotency_key, payload, content_key_id, wrapped_data_key, attempts, spared_attempts, lease_token,
                    accepted_at, expires_at, traceparent, last_error`;
}
