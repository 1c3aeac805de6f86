import { Injectable, Logger } from '@nestjs/common';
import { runStatement, SqlDialect, SqlParameters, TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { comparePositions, FEED_START, FeedPosition } from '../feed/feed-position';
import { formatPosition, parsePosition, sourceFloorState } from '../feed/outbox-feed';
import { deserializeMail, mailRecipients, mailSender } from '../mail-payload';
import { ACTIVE_STATUSES, MessageStatus } from '../message-status';
import type { RetentionSweep } from './retention-sweep';

const FINAL = Object.values(MessageStatus)
  .filter((status) => !ACTIVE_STATUSES.includes(status))
  .map((status) => `'${status}'`)
  .join(', ');

/** What one shred batch did. */
export interface ShreddedMessages {
  readonly shredded: number;
  /** Legacy rows among them whose payload could not be read: shredded with no recipients kept. */
  readonly unreadable: number;
}

/** What one purge batch deleted. */
export interface PurgedMessages {
  readonly messages: number;
  readonly events: number;
  /** Rows of other tables that named the messages (RetentionSweep.purgeWithMessages), by table. */
  readonly alongside: Readonly<Record<string, number>>;
}

/**
 * Shreds and deletes one source's final messages in small batches, each its own transaction.
 *
 * "Became final" is updated_at: every status change sets it (the enqueue of a SUPPRESSED message,
 * an attempt's outcome, expiry, cancel), a final status never changes again, and nothing after
 * that writes the row: provider feedback appends RECIPIENT_* events (it only locks the row), and
 * shredding sets content_shredded_at, not updated_at. A final_at column would hold the same value,
 * at the cost of one more write on every final transition of the hot path and a backfill. Should
 * a later write ever bump updated_at, the message is kept longer, never shorter.
 *
 * Each batch selects its ids from the partial indexes outbox_message_unshredded and
 * outbox_message_final (source, updated_at) WHERE status is final, a range scan that stops at the
 * cutoff and reads no active message. EXPLAIN ANALYZE on PostgreSQL 15, 200,000 rows of which
 * 150,000 final: "Limit -> LockRows -> Index Scan using outbox_message_unshredded (Index Cond:
 * source and updated_at)", 500 rows in 0.5 ms from 533 buffers, no sort (likewise
 * outbox_message_final for the purge); the integration spec checks the plan. On PostgreSQL the
 * ids are taken FOR UPDATE SKIP LOCKED, so two replicas never work on the same rows and neither
 * waits for the other; SQLite has one writer.
 */
@Injectable()
export class MessageRetention {
  private readonly logger = new Logger(MessageRetention.name);

  constructor(private readonly transactions: TransactionRunner) {}

  /**
   * Destroys the content of up to `limit` messages of `source` final at or before `cutoff`:
   * payload empty, data key gone, content_shredded_at = now.
   */
  async shredBatch(source: string, cutoff: number, limit: number, now: number): Promise<ShreddedMessages> {
    return this.transactions.run(async (manager) => {
      const selection = this.transactions.parameters();
      const rows = await runStatement<{ id: string; legacy: number | boolean }>(
        manager,
        selectShredBatch(this.transactions.dialect, selection, source, cutoff, limit),
        selection.values,
      );
      if (rows.length === 0) return { shredded: 0, unreadable: 0 };
      let unreadable = 0;
      // One at a time: a payload may be as large as MAX_MESSAGE_BYTES.
      for (const row of rows.filter((candidate) => Number(candidate.legacy) === 1)) {
        if (!(await this.keepAddresses(manager, row.id))) unreadable++;
      }
      const parameters = this.transactions.parameters();
      // Placeholders in the order they appear: SQLite's are positional.
      const shreddedAt = parameters.add(now);
      await runStatement(
        manager,
        `UPDATE outbox_message
            SET payload = '', content_key_id = NULL, wrapped_data_key = NULL, content_shredded_at = ${shreddedAt}
          WHERE id IN (${rows.map(({ id }) => parameters.add(id)).join(', ')})`,
        parameters.values,
      );
      return { shredded: rows.length, unreadable };
    });
  }

  /**
   * Feedback matches recipients and GetMessage lists them after the content is gone: a row from
   * before the recipients column keeps its addresses there (and its sender) as it is shredded.
   * A payload that cannot be read is shredded all the same, with no recipients kept ('[]'):
   * leaving it would stop every later batch of its source at the same row. Returns whether the
   * payload was read.
   */
  private async keepAddresses(manager: EntityManager, id: string): Promise<boolean> {
    const lookup = this.transactions.parameters();
    const [{ payload }] = await runStatement<{ payload: string }>(
      manager,
      `SELECT payload FROM outbox_message WHERE id = ${lookup.add(id)}`,
      lookup.values,
    );
    const addresses = readAddresses(payload);
    if (addresses === null) {
      this.logger.warn(`Message ${id}: its stored payload is not readable; shredded without its recipients`);
    }
    const parameters = this.transactions.parameters();
    await runStatement(
      manager,
      `UPDATE outbox_message
          SET recipients = ${parameters.add(JSON.stringify(addresses?.recipients ?? []))},
              sender = COALESCE(sender, ${parameters.add(addresses?.sender ?? null)})
        WHERE id = ${parameters.add(id)}`,
      parameters.values,
    );
    return addresses !== null;
  }

  /**
   * Deletes up to `limit` messages of `source` final at or before `cutoff`, with their events and
   * the rows of `alongside` tables that name them, in one transaction, and raises the event feed's
   * floor past the events deleted, so a cursor that still points before them is answered
   * OUT_OF_RANGE rather than silently skipping them.
   */
  async purgeBatch(
    source: string,
    cutoff: number,
    limit: number,
    alongside: readonly RetentionSweep[] = [],
  ): Promise<PurgedMessages> {
    return this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      const ids = await runStatement<{ id: string }>(
        manager,
        selectPurgeBatch(this.transactions.dialect, parameters, source, cutoff, limit),
        parameters.values,
      );
      if (ids.length === 0) return { messages: 0, events: 0, alongside: {} };
      // Before the feed floor's lock below: that lock is the one replicas purging a source share.
      const named: Record<string, number> = {};
      for (const sweep of alongside) {
        if (!sweep.purgeWithMessages) continue;
        const count = await sweep.purgeWithMessages(
          manager,
          ids.map(({ id }) => id),
        );
        named[sweep.table] = (named[sweep.table] ?? 0) + count;
      }
      const events = this.transactions.parameters();
      const list = ids.map(({ id }) => events.add(id)).join(', ');
      const gone = await runStatement<{ commit_xid: string | number; sequence: string | number }>(
        manager,
        `DELETE FROM message_event WHERE message_id IN (${list}) RETURNING commit_xid, sequence`,
        events.values,
      );
      const messages = this.transactions.parameters();
      await runStatement(
        manager,
        `DELETE FROM outbox_message WHERE id IN (${ids.map(({ id }) => messages.add(id)).join(', ')})`,
        messages.values,
      );
      const newest = gone
        .map((row) => ({ xid: Number(row.commit_xid), sequence: Number(row.sequence) }))
        .reduce<FeedPosition | null>(
          (latest, position) =>
            latest === null || comparePositions(position, latest) > 0 ? position : latest,
          null,
        );
      if (newest) await this.raiseFeedFloor(manager, source, newest);
      return { messages: ids.length, events: gone.length, alongside: named };
    });
  }

  /** When the oldest final message of `source` still kept became final; null when none is. */
  async oldestFinal(source: string): Promise<number | null> {
    const parameters = this.transactions.parameters();
    const [row] = await this.transactions.read((manager) =>
      manager.query<{ oldest: string | number | null }[]>(
        `SELECT MIN(updated_at) AS oldest FROM outbox_message
          WHERE source = ${parameters.add(source)} AND status IN (${FINAL})`,
        parameters.values,
      ),
    );
    return row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
  }

  /**
   * The source's feed floor only rises. Its feed_state row is made if missing, then locked on
   * PostgreSQL, so two replicas purging the source side by side take turns and each raises it from
   * the other's value (two first inserts meet in ON CONFLICT, the later waiting for the earlier's
   * commit). The lock is held to the commit, which is this batch's own and short.
   */
  private async raiseFeedFloor(
    manager: EntityManager,
    source: string,
    position: FeedPosition,
  ): Promise<void> {
    const name = sourceFloorState(source);
    const insert = this.transactions.parameters();
    await runStatement(
      manager,
      `INSERT INTO feed_state (name, value) VALUES (${insert.add(name)}, ${insert.add(formatPosition(FEED_START))})
       ON CONFLICT (name) DO NOTHING`,
      insert.values,
    );
    const parameters = this.transactions.parameters();
    const lock = this.transactions.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [row] = await runStatement<{ value: string }>(
      manager,
      `SELECT value FROM feed_state WHERE name = ${parameters.add(name)}${lock}`,
      parameters.values,
    );
    if (comparePositions(parsePosition(row.value), position) >= 0) return;
    const update = this.transactions.parameters();
    await runStatement(
      manager,
      `UPDATE feed_state SET value = ${update.add(formatPosition(position))} WHERE name = ${update.add(name)}`,
      update.values,
    );
  }
}

/** A shred batch's selection (ids, and whether each is a legacy row), as MessageRetention runs it. */
export function selectShredBatch(
  dialect: SqlDialect,
  parameters: SqlParameters,
  source: string,
  cutoff: number,
  limit: number,
): string {
  return selectIds(
    dialect,
    parameters,
    'content_shredded_at IS NULL',
    source,
    cutoff,
    limit,
    `id, CASE WHEN recipients IS NULL AND content_key_id IS NULL THEN 1 ELSE 0 END AS legacy`,
  );
}

/** A purge batch's selection of ids, as MessageRetention runs it. */
export function selectPurgeBatch(
  dialect: SqlDialect,
  parameters: SqlParameters,
  source: string,
  cutoff: number,
  limit: number,
): string {
  return selectIds(dialect, parameters, '', source, cutoff, limit, 'id');
}

/** The ids of one batch, oldest first; the status list is the partial indexes' predicate. */
function selectIds(
  dialect: SqlDialect,
  parameters: SqlParameters,
  condition: string,
  source: string,
  cutoff: number,
  limit: number,
  columns: string,
): string {
  const skipLocked = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  return `SELECT ${columns} FROM outbox_message
           WHERE source = ${parameters.add(source)} AND status IN (${FINAL})${condition ? ` AND ${condition}` : ''}
             AND updated_at <= ${parameters.add(cutoff)}
           ORDER BY updated_at
           LIMIT ${parameters.add(limit)}${skipLocked}`;
}

/** A legacy payload's recipients and sender; null when it cannot be read. */
function readAddresses(payload: string): { recipients: string[]; sender: string | null } | null {
  try {
    const legacy = deserializeMail(payload);
    return { recipients: mailRecipients(legacy), sender: mailSender(legacy) };
  } catch {
    return null;
  }
}
