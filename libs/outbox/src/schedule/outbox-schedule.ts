import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { insertEvents } from '../event-rows';
import { FeedSignal } from '../feed/feed-signal';
import { MessageEventType, MessageStatus, WAITING_STATUSES } from '../message-status';
import { OutboxConfig, outboxConfig } from '../outbox.settings';

/** Why a cancel or a new send time did not apply: nothing was changed. */
export type ScheduleRefusal =
  | { readonly kind: 'not-found' }
  /** An attempt holds the message now; for a cancel, no further attempt will follow it. */
  | { readonly kind: 'being-sent'; readonly attempt: number }
  | { readonly kind: 'final'; readonly status: MessageStatus };

export type CancelResult = { readonly kind: 'cancelled'; readonly cancelledAt: number } | ScheduleRefusal;

export type RescheduleResult =
  { readonly kind: 'rescheduled'; readonly status: MessageStatus; readonly sendAt: number } | ScheduleRefusal;

interface CurrentRow {
  id: string;
  status: MessageStatus;
  attempts: number;
}

/** How often a reschedule looks again at a message that changed under it before giving up. */
const RESCHEDULE_LOOKS = 3;

const WAITING = WAITING_STATUSES.map((status) => `'${status}'`).join(', ');

/**
 * A caller's say over messages not yet sent: cancel them, or move their send time. Each change is
 * one conditional UPDATE on a message no attempt holds, and the claim is one conditional UPDATE
 * too, so the database decides which comes first: a cancelled message is never claimed, and a
 * claimed one is never reported cancelled. Every change is scoped to the calling source.
 */
@Injectable()
export class OutboxSchedule {
  constructor(
    private readonly transactions: TransactionRunner,
    @InjectConfig(outboxConfig) private readonly config: OutboxConfig,
    private readonly feedSignal: FeedSignal,
  ) {}

  /** Cancels each id (answers in the same order); ids may repeat. */
  async cancel(source: string, ids: readonly string[]): Promise<CancelResult[]> {
    const unique = [...new Set(ids)];
    const results = await this.transactions.run(async (manager) => {
      const now = Date.now();
      // One UPDATE decides each row: waiting rows are cancelled; a row an attempt holds (with no
      // cancel requested yet) remembers the cancel, so if that attempt does not deliver, none
      // follows. Two statements would each read the row afresh on PostgreSQL, and an attempt
      // ending in between (sending, then retrying) would escape both.
      const sending = `status = '${MessageStatus.Sending}'`;
      const changed = await this.update(
        manager,
        source,
        unique,
        `status = CASE WHEN ${sending} THEN status ELSE '${MessageStatus.Cancelled}' END,
         next_attempt_at = CASE WHEN ${sending} THEN next_attempt_at ELSE ${now} END,
         cancel_requested_at = CASE WHEN ${sending} THEN ${now} ELSE cancel_requested_at END,
         updated_at = ${now}`,
        `(status IN (${WAITING}) OR (${sending} AND cancel_requested_at IS NULL))`,
      );
      const cancelled = new Map([...changed].filter(([, row]) => row.status === MessageStatus.Cancelled));
      const requested = new Map([...changed].filter(([, row]) => row.status === MessageStatus.Sending));
      const rest = unique.filter((id) => !cancelled.has(id));
      await insertEvents(manager, this.transactions.dialect, [
        ...[...cancelled.values()].map((row) => ({
          messageId: row.id,
          source,
          type: MessageEventType.Cancelled,
          attempt: 0,
          detail: 'cancelled: no attempt follows',
          occurredAt: now,
        })),
        ...[...requested.values()].map((row) => ({
          messageId: row.id,
          source,
          type: MessageEventType.CancelRequested,
          attempt: row.attempts,
          detail: `cancel requested during attempt ${row.attempts}: no further attempt follows it`,
          occurredAt: now,
        })),
      ]);
      const current = await this.current(manager, source, rest);
      return new Map<string, CancelResult>(
        unique.map((id) => [
          id,
          cancelled.has(id) ? { kind: 'cancelled', cancelledAt: now } : refusalOf(current.get(id)),
        ]),
      );
    });
    this.feedSignal.published(
      [...results.values()].some((result) => result.kind === 'cancelled') ? [source] : [],
    );
    return ids.map((id) => results.get(id)!);
  }

  /** Moves the send time of a message no attempt holds; at or before now it is due at once. */
  async reschedule(source: string, id: string, sendAt: number): Promise<RescheduleResult> {
    const result = await this.transactions.run(async (manager): Promise<RescheduleResult> => {
      const now = Date.now();
      const dueAt = Math.max(now, sendAt);
      const status =
        dueAt > now
          ? `'${MessageStatus.Scheduled}'`
          : `CASE WHEN status = '${MessageStatus.Scheduled}' THEN '${MessageStatus.Queued}' ELSE status END`;
      const move = () =>
        this.update(
          manager,
          source,
          [id],
          `status = ${status}, send_at = ${sendAt}, next_attempt_at = ${dueAt},
           expires_at = ${dueAt + this.config.messageMaxAgeMs}, updated_at = ${now}`,
          `status IN (${WAITING})`,
        );
      let row = (await move()).get(id);
      for (let look = 1; !row; look++) {
        // Each statement reads the row afresh: an attempt that ended between the UPDATE and this
        // read left the message waiting again, and the move applies after all.
        const current = (await this.current(manager, source, [id])).get(id);
        if (!current || !WAITING_STATUSES.includes(current.status) || look === RESCHEDULE_LOOKS) {
          return refusalOf(current);
        }
        row = (await move()).get(id);
      }
      await insertEvents(manager, this.transactions.dialect, [
        {
          messageId: id,
          source,
          type: MessageEventType.Rescheduled,
          attempt: 0,
          detail: `rescheduled for ${new Date(sendAt).toISOString()}`,
          occurredAt: now,
        },
      ]);
      return { kind: 'rescheduled', status: row.status, sendAt };
    });
    if (result.kind === 'rescheduled') this.feedSignal.published([source]);
    return result;
  }

  /** One UPDATE of the source's messages among `ids` that meet `condition`; the rows it changed. */
  private async update(
    manager: EntityManager,
    source: string,
    ids: readonly string[],
    assignments: string,
    condition: string,
  ): Promise<Map<string, CurrentRow>> {
    if (ids.length === 0) return new Map();
    const parameters = this.transactions.parameters();
    const matching = `SELECT id FROM outbox_message
                       WHERE source = ${parameters.add(source)}
                         AND id IN (${ids.map((id) => parameters.add(id)).join(', ')})
                         AND ${condition}`;
    // On PostgreSQL the rows are locked in id order, as the recording of attempts locks them, so a
    // cancel of many messages and a group of outcomes never wait for each other in a cycle.
    const rows = await runStatement<CurrentRow>(
      manager,
      `UPDATE outbox_message SET ${assignments}
        WHERE id IN (${this.transactions.dialect === 'postgres' ? `${matching} ORDER BY id FOR UPDATE` : matching})
        RETURNING id, status, attempts`,
      parameters.values,
    );
    return new Map(rows.map((row) => [row.id, row]));
  }

  private async current(
    manager: EntityManager,
    source: string,
    ids: readonly string[],
  ): Promise<Map<string, CurrentRow>> {
    if (ids.length === 0) return new Map();
    const parameters = this.transactions.parameters();
    const rows: CurrentRow[] = await manager.query(
      `SELECT id, status, attempts FROM outbox_message
        WHERE source = ${parameters.add(source)} AND id IN (${ids.map((id) => parameters.add(id)).join(', ')})`,
      parameters.values,
    );
    return new Map(rows.map((row) => [row.id, row]));
  }
}

function refusalOf(row: CurrentRow | undefined): ScheduleRefusal {
  if (!row) return { kind: 'not-found' };
  if (row.status === MessageStatus.Sending) return { kind: 'being-sent', attempt: row.attempts };
  return { kind: 'final', status: row.status };
}
