import { Client } from 'pg';

/** The two statements that copy one final message, with its events, once for every i in a range. */
export interface CopyStatements {
  /** Parameters: first i, last i, the template's id, shred-before (epoch ms), then the shift's. */
  readonly messages: string;
  /** Parameters: first i, last i, the template's id, then the shift's. */
  readonly events: string;
}

export interface CopyOptions {
  /** Copy i gets the id md5(`${idPrefix}` || i) and the idempotency key `${idPrefix}` || i. */
  readonly idPrefix: string;
  /**
   * SQL of copy i's shift in ms, in terms of i and of the template row t, its own parameters
   * numbered from `first`: every epoch-ms column (bigint, *_at) moves by it.
   */
  readonly shift: (first: number) => string;
  /** How long after its final time a copy's body is shredded (content_shredded_at). */
  readonly bodyRetentionMs: number;
}

/**
 * INSERT ... SELECT over generate_series, run on the server: the template's row and events
 * copied with their times shifted, and a copy whose final time is before shred-before left as
 * retention leaves it (empty payload, no data key, content_shredded_at). The events follow their
 * message in sequence order; sequence and commit_xid come from the columns' defaults, as for the
 * gateway's own writes. Columns are read from the schema, so a new one is copied as it is.
 */
export async function finalMessageCopies(db: Client, options: CopyOptions): Promise<CopyStatements> {
  const columns = async (table: string) =>
    (
      await db.query(
        `SELECT column_name AS name, data_type AS type FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      )
    ).rows as { name: string; type: string }[];
  const shifted = (prefix: string, { name, type }: { name: string; type: string }) =>
    type === 'bigint' && name.endsWith('_at') ? `${prefix}.${name} + s.shift` : `${prefix}.${name}`;
  const seedId = `md5('${options.idPrefix}' || i)::uuid::text`;
  const shredded = `(t.updated_at + s.shift < $4::bigint)`;
  const messageColumns = await columns('outbox_message');
  const messageValues = messageColumns.map((column) => {
    switch (column.name) {
      case 'id':
        return seedId;
      case 'idempotency_key':
        return `'${options.idPrefix}' || i`;
      case 'payload':
        return `CASE WHEN ${shredded} THEN '' ELSE t.payload END`;
      case 'content_key_id':
      case 'wrapped_data_key':
        return `CASE WHEN ${shredded} THEN NULL ELSE t.${column.name} END`;
      case 'content_shredded_at':
        return `CASE WHEN ${shredded} THEN t.updated_at + s.shift + ${Math.round(options.bodyRetentionMs)}::bigint END`;
      default:
        return shifted('t', column);
    }
  });
  const eventColumns = (await columns('message_event')).filter(
    ({ name }) => name !== 'sequence' && name !== 'commit_xid',
  );
  const eventValues = eventColumns.map((column) =>
    column.name === 'message_id' ? seedId : shifted('e', column),
  );
  const series = (shiftFrom: number) => `CROSS JOIN generate_series($1::bigint, $2::bigint) AS i
    CROSS JOIN LATERAL (SELECT ${options.shift(shiftFrom)} AS shift) s`;
  return {
    messages: `INSERT INTO outbox_message (${messageColumns.map(({ name }) => name).join(', ')})
       SELECT ${messageValues.join(', ')} FROM outbox_message t ${series(5)} WHERE t.id = $3`,
    events: `INSERT INTO message_event (${eventColumns.map(({ name }) => name).join(', ')})
       SELECT ${eventValues.join(', ')}
         FROM message_event e JOIN outbox_message t ON t.id = e.message_id ${series(4)}
        WHERE e.message_id = $3 ORDER BY i, e.sequence`,
  };
}
