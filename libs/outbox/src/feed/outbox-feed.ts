import { Injectable } from '@nestjs/common';
import { TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { MessageEventType } from '../message-status';
import { FeedPositionExpiredException } from './feed-position-expired.exception';
import { comparePositions, FEED_START, FeedPosition, laterPosition } from './feed-position';

/** Which events of a source's feed to read. */
export interface FeedFilter {
  /** Only these types; empty for all. */
  readonly types: readonly MessageEventType[];
  readonly messageId: string | null;
}

/** One event as the feed carries it, with its message's labels. */
export interface FeedEventRecord {
  readonly position: FeedPosition;
  readonly sequence: number;
  readonly messageId: string;
  readonly type: MessageEventType;
  readonly attempt: number;
  readonly detail: string;
  readonly provider: string | null;
  readonly recipient: string | null;
  readonly occurredAt: number;
  readonly recordedAt: number;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  /** The message's send time now in force, or null when it was sent at once. */
  readonly sendAt: number | null;
}

export interface FeedPage {
  readonly events: FeedEventRecord[];
  /** Where the next read resumes: after the last event, or as far as the feed is known complete. */
  readonly next: FeedPosition;
  /**
   * Every event committed before this read began lies at or before this position. Until `next`
   * reaches it, some of them are still held back by an older transaction that is open.
   */
  readonly committedUpTo: FeedPosition;
}

/** The feed_state row holding the oldest position still kept in every source's feed. */
export const FEED_FLOOR_STATE = 'floor';

/**
 * The feed_state row holding the oldest position still kept in one source's feed: retention
 * raises it past the events it deletes of that source, so one source's purge never expires
 * another's cursors. A source's floor is the later of the two.
 */
export function sourceFloorState(source: string): string {
  return `floor:${source}`;
}

interface Bounds {
  /** PostgreSQL: the oldest transaction still running; SQLite: the newest sequence written. */
  horizon: string | number | null;
  /** PostgreSQL: the first transaction id not yet handed out. */
  newest?: string;
  floor: string | null;
  source_floor: string | null;
}

/** The later of the gateway's floor and the source's own. */
function floorOf(bounds: Pick<Bounds, 'floor' | 'source_floor'>): FeedPosition {
  return laterPosition(
    bounds.floor ? parsePosition(bounds.floor) : FEED_START,
    bounds.source_floor ? parsePosition(bounds.source_floor) : FEED_START,
  );
}

interface EventRow {
  sequence: string | number;
  commit_xid: string | number;
  message_id: string;
  type: MessageEventType;
  attempt: number;
  detail: string;
  provider: string | null;
  recipient: string | null;
  occurred_at: string | number;
  recorded_at: string | number;
  labels: string | null;
  send_at: string | number | null;
}

interface Labels {
  tags: string[];
  metadata: Record<string, string>;
}

const NO_LABELS: Labels = { tags: [], metadata: {} };

/**
 * Reads a source's events in a total order that never changes behind a reader. PostgreSQL hands
 * out sequence numbers at insert, not at commit, so a reader that passed sequence 100 could later
 * meet 99 committed late. Events are therefore ordered by (commit_xid, sequence), and a read only
 * returns events whose writing transaction is older than the oldest one still running
 * (pg_snapshot_xmin): every transaction below that has finished, so no event can still appear
 * before what was read. SQLite has one writer at a time, so its sequence is commit order.
 */
@Injectable()
export class OutboxFeed {
  constructor(private readonly transactions: TransactionRunner) {}

  /**
   * Up to `limit` events of `source` after `after` (null: from the oldest kept). Throws
   * FeedPositionExpiredException when `after` lies before what is still kept.
   */
  read(source: string, filter: FeedFilter, after: FeedPosition | null, limit: number): Promise<FeedPage> {
    const work = (manager: EntityManager) => this.readPage(manager, source, filter, after, limit);
    // SQLite's one connection would let a read see a transaction that is still open: queue behind it.
    return this.transactions.dialect === 'sqlite'
      ? this.transactions.run(work)
      : this.transactions.read(work);
  }

  private async readPage(
    manager: EntityManager,
    source: string,
    filter: FeedFilter,
    after: FeedPosition | null,
    limit: number,
  ): Promise<FeedPage> {
    const postgres = this.transactions.dialect === 'postgres';
    const floors = this.transactions.parameters();
    const floorColumns = `(SELECT value FROM feed_state WHERE name = '${FEED_FLOOR_STATE}') AS floor,
                  (SELECT value FROM feed_state WHERE name = ${floors.add(sourceFloorState(source))}) AS source_floor`;
    const [bounds] = await select<Bounds>(
      manager,
      postgres
        ? `SELECT pg_snapshot_xmin(snapshot)::text AS horizon, pg_snapshot_xmax(snapshot)::text AS newest,
                  ${floorColumns}
             FROM pg_current_snapshot() AS snapshot`
        : `SELECT MAX(sequence) AS horizon, ${floorColumns} FROM message_event`,
      floors.values,
    );
    const floor = floorOf(bounds);
    if (after && comparePositions(after, floor) < 0) throw new FeedPositionExpiredException();
    const from = after ?? floor;
    // Everything at or before `complete` is committed (or never will be) and visible now.
    const complete: FeedPosition = postgres
      ? { xid: Number(bounds.horizon) - 1, sequence: Number.MAX_SAFE_INTEGER }
      : { xid: 0, sequence: Number(bounds.horizon ?? 0) };
    // Every transaction that committed before this read has an id below `newest`.
    const committedUpTo: FeedPosition = postgres
      ? { xid: Number(bounds.newest) - 1, sequence: Number.MAX_SAFE_INTEGER }
      : complete;

    const parameters = this.transactions.parameters();
    const at = (value: unknown) => parameters.add(value);
    const conditions = [
      `e.source = ${at(source)}`,
      `(e.commit_xid, e.sequence) > (${at(from.xid)}, ${at(from.sequence)})`,
      postgres ? `e.commit_xid <= ${at(complete.xid)}` : `e.sequence <= ${at(complete.sequence)}`,
    ];
    if (filter.types.length > 0) conditions.push(`e.type IN (${filter.types.map(at).join(', ')})`);
    if (filter.messageId) conditions.push(`e.message_id = ${at(filter.messageId)}`);
    const rows = await select<EventRow>(
      manager,
      `SELECT e.sequence, e.commit_xid, e.message_id, e.type, e.attempt, e.detail, e.provider,
              e.recipient, e.occurred_at, e.recorded_at, m.labels, m.send_at
         FROM message_event e LEFT JOIN outbox_message m ON m.id = e.message_id
        WHERE ${conditions.join(' AND ')}
        ORDER BY e.commit_xid, e.sequence
        LIMIT ${at(limit)}`,
      parameters.values,
    );
    // A purge that committed between the floor's read and the events' took events after `from`
    // away: the page would skip them without a word. Its floor tells.
    const again = this.transactions.parameters();
    const [moved] = await select<Pick<Bounds, 'floor' | 'source_floor'>>(
      manager,
      `SELECT (SELECT value FROM feed_state WHERE name = '${FEED_FLOOR_STATE}') AS floor,
              (SELECT value FROM feed_state WHERE name = ${again.add(sourceFloorState(source))}) AS source_floor`,
      again.values,
    );
    if (comparePositions(from, floorOf(moved)) < 0) {
      if (after) throw new FeedPositionExpiredException();
      return this.readPage(manager, source, filter, after, limit);
    }
    const events = toRecords(rows);
    const last = events.length > 0 ? events[events.length - 1].position : from;
    // A short page read everything up to `complete`: the next read may start there.
    const next = events.length < limit ? laterPosition(last, laterPosition(complete, from)) : last;
    return { events, next, committedUpTo };
  }
}

/**
 * A SELECT's rows. On PostgreSQL the feed reads through the pool's own manager, outside any
 * transaction, which has no query runner of its own (runStatement needs one); a plain SELECT
 * answers the same rows on pg and better-sqlite3.
 */
function select<Row>(manager: EntityManager, sql: string, parameters: unknown[]): Promise<Row[]> {
  return manager.query<Row[]>(sql, parameters);
}

function toRecords(rows: readonly EventRow[]): FeedEventRecord[] {
  const labelsByMessage = new Map<string, Labels>();
  return rows.map((row) => {
    let labels = labelsByMessage.get(row.message_id);
    if (!labels) {
      labels = row.labels ? (JSON.parse(row.labels) as Labels) : NO_LABELS;
      labelsByMessage.set(row.message_id, labels);
    }
    const sequence = Number(row.sequence);
    return {
      position: { xid: Number(row.commit_xid), sequence },
      sequence,
      messageId: row.message_id,
      type: row.type,
      attempt: row.attempt,
      detail: row.detail,
      provider: row.provider ?? null,
      recipient: row.recipient ?? null,
      occurredAt: Number(row.occurred_at),
      recordedAt: Number(row.recorded_at),
      tags: labels.tags,
      metadata: labels.metadata,
      sendAt: row.send_at === null || row.send_at === undefined ? null : Number(row.send_at),
    };
  });
}

/** Positions kept in feed_state as "xid:sequence". */
export function formatPosition(position: FeedPosition): string {
  return `${position.xid}:${position.sequence}`;
}

export function parsePosition(text: string): FeedPosition {
  const [xid, sequence] = text.split(':').map(Number);
  return { xid, sequence };
}
