// Rows shaped like the gateway's own (the tables its migrations create), for the baselines that
// write the outbox with plain `pg`: the same columns, values of the same sizes, one statement.
import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** The outbox_message columns an accepted message fills, in the order of the values below. */
const MESSAGE_COLUMNS = [
  ['id', 'varchar'],
  ['source', 'varchar'],
  ['idempotency_key', 'varchar'],
  ['content_hash', 'varchar'],
  ['payload', 'text'],
  ['content_key_id', 'varchar'],
  ['wrapped_data_key', 'text'],
  ['recipients', 'text'],
  ['sender', 'varchar'],
  ['status', 'varchar'],
  ['next_attempt_at', 'bigint'],
  ['accepted_at', 'bigint'],
  ['expires_at', 'bigint'],
  ['updated_at', 'bigint'],
  ['labels', 'text'],
] as const;

const DAY_MS = 86_400_000;
/** A wrapped data key is 80 base64 characters in the gateway's rows; its value does not matter here. */
const WRAPPED_DATA_KEY = randomBytes(60).toString('base64');

/** The parts of a SendMail request's mail these rows read. */
export interface MailFields {
  readonly to?: { address: string }[];
  readonly tags?: string[];
  readonly metadata?: Record<string, string>;
}

/**
 * One accepted message's values, from the mail as the caller sent it (about 1 KiB of JSON). An
 * empty idempotency key is none, as protobuf decodes an unset one and as the gateway reads it.
 */
export function messageValues(mail: MailFields, idempotencyKey: string, now: number): unknown[] {
  const json = JSON.stringify(mail);
  return [
    randomUUID(),
    'dev',
    idempotencyKey || null,
    createHash('sha256').update(json).digest('hex'),
    // The gateway stores the mail sealed and base64-encoded: about 4/3 of the JSON, as here.
    `v1:${Buffer.from(json).toString('base64')}`,
    'bench-1',
    WRAPPED_DATA_KEY,
    JSON.stringify((mail.to ?? []).map(({ address }) => address)),
    'billing@example.com',
    'queued',
    now,
    now,
    now + DAY_MS,
    now,
    JSON.stringify({ tags: mail.tags ?? [], metadata: mail.metadata ?? {} }),
  ];
}

/** Column arrays for `unnest`: one parameter per column, whatever the number of rows. */
export function messageColumnArrays(rows: readonly unknown[][]): unknown[][] {
  return MESSAGE_COLUMNS.map((_column, index) => rows.map((row) => row[index]));
}

/** INSERT of many messages in one statement, their values as column arrays ($1..$15). */
export const INSERT_MESSAGES = `INSERT INTO outbox_message (${MESSAGE_COLUMNS.map(([name]) => name).join(', ')})
  SELECT * FROM unnest(${MESSAGE_COLUMNS.map(([, type], index) => `$${index + 1}::${type}[]`).join(', ')})`;

/**
 * The rows a SendMailBatch stores, in one statement: the messages and an ACCEPTED event for each
 * (recorded_at as the gateway stamps it; commit_xid is the column default, as there).
 */
export const INSERT_MESSAGES_AND_ACCEPTED_EVENTS = `WITH message AS (${INSERT_MESSAGES}
    RETURNING id, source, accepted_at)
  INSERT INTO message_event (message_id, source, type, attempt, detail, occurred_at, recorded_at)
  SELECT id, source, 'accepted', 0, 'accepted', accepted_at, accepted_at FROM message`;
