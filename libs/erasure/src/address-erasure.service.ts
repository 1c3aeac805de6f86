import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { runStatement, SqlParameters, TransactionRunner } from '@mailgateway/database';
import { AddressHasher } from '@mailgateway/encryption';
import {
  ACTIVE_STATUSES,
  FeedSignal,
  insertEvents,
  MessageEventType,
  MessageStatus,
  NewEvent,
  storedAddresses,
} from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { AddressRedaction } from './address-redaction';

/** Rows changed per transaction: short transactions, so an erasure never holds many rows locked for long. */
export const ERASURE_BATCH_SIZE = 200;

/** The detail of the event that ends a message not yet final when an address of it is erased. */
export const ERASED_CANCEL_DETAIL = 'cancelled: an address of the message was erased';

export interface ErasureRequest {
  /** As the caller gave it (validated at the edge); matched without regard to case. */
  readonly address: string;
  /** Why, e.g. a ticket reference; kept in the record (the address replaced by its hash). */
  readonly reason: string;
  /** The source whose admin key asked for it. */
  readonly requestedBy: string;
}

export interface ErasureResult {
  readonly erasureId: string;
  readonly addressHash: string;
  /** Messages to or from the address whose content was shredded by this erasure. */
  readonly messagesShredded: number;
  /** Rows (messages, events, notifications, suppression notes) in which the address was replaced by its hash. */
  readonly recordsRedacted: number;
  /** Suppression entries of the address kept as its hash, one per scope. */
  readonly suppressionsKept: number;
  readonly erasedAt: number;
}

interface MessageRow {
  id: string;
  source: string;
  status: MessageStatus;
  attempts: number;
  payload: string;
  content_key_id: string | null;
  recipients: string | null;
  sender: string | null;
  last_error: string | null;
  labels: string | null;
  idempotency_key: string | null;
}

interface EventRow {
  sequence: number | string;
  recipient: string | null;
  detail: string;
}

interface NotificationRow {
  provider: string;
  event_id: string;
  feedback: string;
}

interface SuppressionNoteRow {
  address: string;
  scope: string;
  origin: string;
}

interface StoredAddress {
  address?: string;
}

/** erasure_record.state: until the last step is done, then after. */
const STARTED = 'started';
const DONE = 'done';

const ACTIVE = ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ');
const MESSAGE_COLUMNS =
  'id, source, status, attempts, payload, content_key_id, recipients, sender, last_error, labels, idempotency_key';

/**
 * Erases a person from what the gateway keeps. For one address, in batches of short transactions:
 *
 * 1. every message to or from it (by its recipients and sender columns; on rows stored before
 *    those columns, by its plain payload) has its content shredded, the address replaced by its
 *    hash in what is kept of it, and, when not yet final, ends CANCELLED (fenced: the lease token is
 *    raised, so an attempt under way cannot record over it);
 * 2. every event, message error, label, idempotency key, provider notification and suppression
 *    note that names it has the address replaced by its hash;
 * 3. its suppression entries are kept as its hash, so they go on suppressing it;
 * 4. an erasure_record holds the hash, the reason, who asked and the counts, never the address.
 *
 * What is stored while an erasure runs may escape it (a message accepted meanwhile): erasing
 * again finds it, and answers zero counts when there is nothing left.
 */
@Injectable()
export class AddressErasure {
  private readonly logger = new Logger('AddressErasure');

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly hasher: AddressHasher,
    private readonly suppressions: SuppressionList,
    private readonly feedSignal: FeedSignal,
  ) {}

  async erase(request: ErasureRequest): Promise<ErasureResult> {
    const address = request.address.trim().toLowerCase();
    const redaction = new AddressRedaction(address, this.hasher.hash(address));
    const erasedAt = Date.now();
    // Written before the first batch: an erasure cut short leaves a record that says so, and
    // erasing the address again takes that record over and completes it.
    const erasureId = await this.begin(
      redaction.hash,
      redaction.redact(request.reason),
      request.requestedBy,
      erasedAt,
    );
    const messages = await this.eraseMessages(redaction, erasedAt);
    await this.count(erasureId, { messagesShredded: messages.shredded, recordsRedacted: messages.redacted });
    await this.count(erasureId, { recordsRedacted: await this.redactEvents(redaction) });
    await this.count(erasureId, { recordsRedacted: await this.redactMessageTexts(redaction) });
    await this.count(erasureId, { recordsRedacted: await this.redactNotifications(redaction) });
    const suppressions = await this.keepSuppressions(redaction, erasedAt);
    await this.count(erasureId, { recordsRedacted: suppressions.notes, suppressionsKept: suppressions.kept });
    const result = await this.finish(erasureId, redaction.hash, erasedAt);
    // The hash only: the address is what this is about not keeping, in the logs too.
    this.logger.log(
      `Erased address ${result.addressHash} (erasure ${result.erasureId}, asked by ${request.requestedBy}): ` +
        `${result.messagesShredded} messages shredded, ${result.recordsRedacted} records redacted, ` +
        `${result.suppressionsKept} suppressions kept as the hash`,
    );
    return result;
  }

  /**
   * Step 1: the messages to or from the address. A scan of outbox_message: recipients is a JSON
   * array in a text column and a legacy row's addresses are inside its plain payload, neither of
   * which an index serves (sender, in the same statement, has none either). Measured as in step 2a,
   * recipients LIKE reads about 3.5 million rows/s on PostgreSQL, 6 million on SQLite.
   */
  private async eraseMessages(
    redaction: AddressRedaction,
    now: number,
  ): Promise<{ shredded: number; redacted: number }> {
    let shredded = 0;
    let redacted = 0;
    let after = '';
    for (;;) {
      const parameters = this.transactions.parameters();
      // Placeholders are added in the order they appear: SQLite's "?" are positional.
      const quoted = () => parameters.add(redaction.likePattern(true));
      const ids = await this.transactions.read((manager): Promise<{ id: string }[]> =>
        manager.query(
          `SELECT id FROM outbox_message
            WHERE id > ${parameters.add(after)}
              AND (sender = ${parameters.add(redaction.address)}
                   OR recipients LIKE ${quoted()} ESCAPE '\\'
                   OR (recipients IS NULL AND content_key_id IS NULL AND payload <> ''
                       AND lower(payload) LIKE ${quoted()} ESCAPE '\\'))
            ORDER BY id LIMIT ${parameters.add(ERASURE_BATCH_SIZE)}`,
          parameters.values,
        ),
      );
      if (ids.length === 0) break;
      after = ids[ids.length - 1].id;
      const batch = await this.transactions.run((manager) =>
        this.eraseMessageBatch(
          manager,
          ids.map(({ id }) => id),
          redaction,
          now,
        ),
      );
      shredded += batch.shredded;
      redacted += batch.redacted;
      this.feedSignal.published(batch.cancelledSources);
      if (ids.length < ERASURE_BATCH_SIZE) break;
    }
    return { shredded, redacted };
  }

  private async eraseMessageBatch(
    manager: EntityManager,
    ids: readonly string[],
    redaction: AddressRedaction,
    now: number,
  ): Promise<{ shredded: number; redacted: number; cancelledSources: string[] }> {
    const { dialect } = this.transactions;
    const select = this.transactions.parameters();
    // Locked in id order, as the recording of attempts and cancels lock them: no cycle of waits.
    const rows = await runStatement<MessageRow>(
      manager,
      `SELECT ${MESSAGE_COLUMNS} FROM outbox_message
        WHERE id IN (${ids.map((id) => select.add(id)).join(', ')})
        ORDER BY id${dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
      select.values,
    );
    let shredded = 0;
    let redacted = 0;
    const cancelled: NewEvent[] = [];
    for (const row of rows) {
      const kept = keptAddresses(row, redaction.address);
      if (
        !kept.recipients.includes(redaction.address) &&
        kept.sender !== redaction.address &&
        !kept.legacyMention
      ) {
        continue; // changed since it was found (another erasure got there first)
      }
      const active = ACTIVE_STATUSES.includes(row.status);
      const parameters = this.transactions.parameters();
      const at = (value: unknown) => parameters.add(value);
      const hashed = (value: string) => (value === redaction.address ? redaction.hash : value);
      // The lease token is raised with the end of an active message: an attempt under way records
      // its outcome only under its own token, so it cannot overwrite CANCELLED.
      await runStatement(
        manager,
        `UPDATE outbox_message
            SET payload = '', content_key_id = NULL, wrapped_data_key = NULL,
                content_shredded_at = COALESCE(content_shredded_at, ${at(now)}),
                content_hash = ${at(unmatchableContentHash())},
                recipients = ${at(JSON.stringify(kept.recipients.map(hashed)))},
                sender = ${at(kept.sender === null ? null : hashed(kept.sender))},
                last_error = ${at(row.last_error === null ? null : redaction.redact(row.last_error))},
                labels = ${at(row.labels === null ? null : redaction.redact(row.labels))},
                idempotency_key = ${at(this.redactedKey(row.idempotency_key, redaction))},
                status = CASE WHEN status IN (${ACTIVE}) THEN '${MessageStatus.Cancelled}' ELSE status END,
                lease_token = CASE WHEN status IN (${ACTIVE}) THEN lease_token + 1 ELSE lease_token END,
                next_attempt_at = CASE WHEN status IN (${ACTIVE}) THEN ${at(now)} ELSE next_attempt_at END,
                updated_at = ${at(now)}
          WHERE id = ${at(row.id)}`,
        parameters.values,
      );
      if (row.payload !== '') shredded++;
      redacted++;
      if (active) {
        cancelled.push({
          messageId: row.id,
          source: row.source,
          type: MessageEventType.Cancelled,
          attempt: row.attempts,
          detail: ERASED_CANCEL_DETAIL,
          occurredAt: now,
        });
      }
    }
    await insertEvents(manager, dialect, cancelled);
    return { shredded, redacted, cancelledSources: cancelled.map((event) => event.source) };
  }

  /**
   * Step 2a: events that name the address, as their recipient or in their detail. The recipient is
   * stored lowercased (insertEvents), so it is compared as it is; the message_event_recipient index
   * would serve that alone, but a provider's reply quoted in a detail ("550 5.1.1 <bob@…>") is free
   * text no index serves, and the one scan of the table for it answers both. Measured on a shared
   * 2-core machine, 1 million events of ~80-character details: lower(detail) LIKE reads about
   * 0.9 million rows/s on PostgreSQL, 2 to 3 million on SQLite.
   */
  private async redactEvents(redaction: AddressRedaction): Promise<number> {
    let redacted = 0;
    let after = -1;
    for (;;) {
      const parameters = this.transactions.parameters();
      const rows = await this.transactions.read((manager): Promise<EventRow[]> =>
        manager.query(
          `SELECT sequence, recipient, detail FROM message_event
            WHERE sequence > ${parameters.add(after)}
              AND (recipient = ${parameters.add(redaction.address)}
                   OR lower(detail) LIKE ${parameters.add(redaction.likePattern())} ESCAPE '\\')
            ORDER BY sequence LIMIT ${parameters.add(ERASURE_BATCH_SIZE)}`,
          parameters.values,
        ),
      );
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1].sequence);
      redacted += await this.transactions.run(async (manager) => {
        let changed = 0;
        for (const row of rows) {
          const recipient =
            row.recipient !== null && row.recipient.toLowerCase() === redaction.address
              ? redaction.hash
              : row.recipient;
          const detail = redaction.redact(row.detail);
          if (recipient === row.recipient && detail === row.detail) continue;
          const update = this.transactions.parameters();
          await runStatement(
            manager,
            `UPDATE message_event SET recipient = ${update.add(recipient)}, detail = ${update.add(detail)}
              WHERE sequence = ${update.add(Number(row.sequence))}`,
            update.values,
          );
          changed++;
        }
        return changed;
      });
      if (rows.length < ERASURE_BATCH_SIZE) break;
    }
    return redacted;
  }

  /**
   * Step 2b: other messages whose error, labels (the caller's tags and metadata) or idempotency key
   * name it: free text, a scan (no index serves a substring), at about the rate of step 2a's.
   */
  private async redactMessageTexts(redaction: AddressRedaction): Promise<number> {
    let redacted = 0;
    let after = '';
    for (;;) {
      const parameters = this.transactions.parameters();
      const pattern = () => parameters.add(redaction.likePattern());
      const rows = await this.transactions.read(
        (manager): Promise<Pick<MessageRow, 'id' | 'last_error' | 'labels' | 'idempotency_key'>[]> =>
          manager.query(
            `SELECT id, last_error, labels, idempotency_key FROM outbox_message
            WHERE id > ${parameters.add(after)}
              AND (lower(last_error) LIKE ${pattern()} ESCAPE '\\'
                   OR lower(labels) LIKE ${pattern()} ESCAPE '\\'
                   OR lower(idempotency_key) LIKE ${pattern()} ESCAPE '\\')
            ORDER BY id LIMIT ${parameters.add(ERASURE_BATCH_SIZE)}`,
            parameters.values,
          ),
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;
      redacted += await this.transactions.run(async (manager) => {
        let changed = 0;
        for (const row of rows) {
          const lastError = row.last_error === null ? null : redaction.redact(row.last_error);
          const labels = row.labels === null ? null : redaction.redact(row.labels);
          const key = this.redactedKey(row.idempotency_key, redaction);
          if (lastError === row.last_error && labels === row.labels && key === row.idempotency_key) continue;
          const update = this.transactions.parameters();
          await runStatement(
            manager,
            `UPDATE outbox_message SET last_error = ${update.add(lastError)}, labels = ${update.add(labels)},
                    idempotency_key = ${update.add(key)}
              WHERE id = ${update.add(row.id)}`,
            update.values,
          );
          changed++;
        }
        return changed;
      });
      if (rows.length < ERASURE_BATCH_SIZE) break;
    }
    return redacted;
  }

  /**
   * Step 2c: provider notifications that name it (the normalised feedback, its event id). Redacted,
   * not deleted: one still pending is then applied to the hash, which stands for the recipient in
   * its message, so a complaint still lands and still suppresses. A scan: the address is inside
   * the stored JSON, which no index serves (the table holds the notifications of the match window
   * and what retention keeps).
   */
  private async redactNotifications(redaction: AddressRedaction): Promise<number> {
    let redacted = 0;
    let after: [string, string] = ['', ''];
    for (;;) {
      const parameters = this.transactions.parameters();
      const pattern = () => parameters.add(redaction.likePattern());
      const rows = await this.transactions.read((manager): Promise<NotificationRow[]> =>
        manager.query(
          `SELECT provider, event_id, feedback FROM provider_notification
            WHERE (provider > ${parameters.add(after[0])}
                   OR (provider = ${parameters.add(after[0])} AND event_id > ${parameters.add(after[1])}))
              AND (lower(feedback) LIKE ${pattern()} ESCAPE '\\' OR lower(event_id) LIKE ${pattern()} ESCAPE '\\')
            ORDER BY provider, event_id LIMIT ${parameters.add(ERASURE_BATCH_SIZE)}`,
          parameters.values,
        ),
      );
      if (rows.length === 0) break;
      const last = rows[rows.length - 1];
      after = [last.provider, last.event_id];
      redacted += await this.transactions.run(async (manager) => {
        let changed = 0;
        for (const row of rows) {
          const feedback = redaction.redact(row.feedback);
          const eventId = redaction.mentions(row.event_id) ? this.hasher.hash(row.event_id) : row.event_id;
          if (feedback === row.feedback && eventId === row.event_id) continue;
          const update = this.transactions.parameters();
          await runStatement(
            manager,
            `UPDATE provider_notification SET feedback = ${update.add(feedback)}, event_id = ${update.add(eventId)}
              WHERE provider = ${update.add(row.provider)} AND event_id = ${update.add(row.event_id)}`,
            update.values,
          );
          changed++;
        }
        return changed;
      });
      if (rows.length < ERASURE_BATCH_SIZE) break;
    }
    return redacted;
  }

  /** Step 3: its suppressions kept as the hash, and other entries' notes that name it. */
  private async keepSuppressions(
    redaction: AddressRedaction,
    now: number,
  ): Promise<{ kept: number; notes: number }> {
    const kept = await this.transactions.run((manager) =>
      this.suppressions.keepAsHash(
        manager,
        redaction.address,
        redaction.hash,
        (origin) => redaction.redact(origin),
        now,
      ),
    );
    // The entries themselves are found by their key (address, scope) in keepAsHash; a note naming
    // the address is free text, a scan of suppression_entry (one row per suppressed address).
    const parameters = this.transactions.parameters();
    const rows = await this.transactions.read((manager): Promise<SuppressionNoteRow[]> =>
      manager.query(
        `SELECT address, scope, origin FROM suppression_entry
          WHERE lower(origin) LIKE ${parameters.add(redaction.likePattern())} ESCAPE '\\'`,
        parameters.values,
      ),
    );
    let notes = 0;
    for (let start = 0; start < rows.length; start += ERASURE_BATCH_SIZE) {
      notes += await this.transactions.run(async (manager) => {
        let changed = 0;
        for (const row of rows.slice(start, start + ERASURE_BATCH_SIZE)) {
          const origin = redaction.redact(row.origin).slice(0, 1000);
          if (origin === row.origin) continue;
          const update = this.transactions.parameters();
          await runStatement(
            manager,
            `UPDATE suppression_entry SET origin = ${update.add(origin)}
              WHERE address = ${update.add(row.address)} AND scope = ${update.add(row.scope)}`,
            update.values,
          );
          changed++;
        }
        return changed;
      });
    }
    return { kept, notes };
  }

  /**
   * The record of this erasure, state "started": a started one of the same hash (an erasure cut
   * short) is taken over, keeping what it counted; otherwise a new one with zero counts.
   */
  private async begin(
    addressHash: string,
    reason: string,
    requestedBy: string,
    now: number,
  ): Promise<string> {
    return this.transactions.run(async (manager) => {
      const find = this.transactions.parameters();
      const [started] = await runStatement<{ id: string }>(
        manager,
        `SELECT id FROM erasure_record
          WHERE address_hash = ${find.add(addressHash)} AND state = ${find.add(STARTED)}
          ORDER BY erased_at LIMIT 1`,
        find.values,
      );
      const parameters = new SqlParameters(this.transactions.dialect);
      if (started) {
        await runStatement(
          manager,
          `UPDATE erasure_record SET erased_at = ${parameters.add(now)} WHERE id = ${parameters.add(started.id)}`,
          parameters.values,
        );
        return started.id;
      }
      const id = randomUUID();
      const values = [id, addressHash, reason, requestedBy, now, 0, 0, 0, STARTED];
      await runStatement(
        manager,
        `INSERT INTO erasure_record
           (id, address_hash, reason, requested_by, erased_at, messages_shredded, records_redacted, suppressions_kept, state)
         VALUES (${values.map((value) => parameters.add(value)).join(', ')})`,
        parameters.values,
      );
      return id;
    });
  }

  /** Adds a step's counts to the record as soon as the step is done, so a rerun's totals include them. */
  private async count(
    erasureId: string,
    counts: { messagesShredded?: number; recordsRedacted?: number; suppressionsKept?: number },
  ): Promise<void> {
    const parameters = this.transactions.parameters();
    await this.transactions.run((manager) =>
      runStatement(
        manager,
        `UPDATE erasure_record
            SET messages_shredded = messages_shredded + ${parameters.add(counts.messagesShredded ?? 0)},
                records_redacted = records_redacted + ${parameters.add(counts.recordsRedacted ?? 0)},
                suppressions_kept = suppressions_kept + ${parameters.add(counts.suppressionsKept ?? 0)}
          WHERE id = ${parameters.add(erasureId)}`,
        parameters.values,
      ),
    );
  }

  /** Marks the record done and answers its totals (those of a run cut short before this one included). */
  private async finish(erasureId: string, addressHash: string, erasedAt: number): Promise<ErasureResult> {
    return this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      const [row] = await runStatement<{
        messages_shredded: number | string;
        records_redacted: number | string;
        suppressions_kept: number | string;
      }>(
        manager,
        `UPDATE erasure_record SET state = ${parameters.add(DONE)}
          WHERE id = ${parameters.add(erasureId)}
      RETURNING messages_shredded, records_redacted, suppressions_kept`,
        parameters.values,
      );
      return {
        erasureId,
        addressHash,
        messagesShredded: Number(row.messages_shredded),
        recordsRedacted: Number(row.records_redacted),
        suppressionsKept: Number(row.suppressions_kept),
        erasedAt,
      };
    });
  }

  /**
   * An idempotency key naming the address becomes the keyed hash of the key: still unique within
   * its source, no longer readable. A retry with the old key after the erasure is a new message.
   */
  private redactedKey(key: string | null, redaction: AddressRedaction): string | null {
    return key !== null && redaction.mentions(key) ? this.hasher.hash(key) : key;
  }
}

/**
 * What an erased message keeps in place of its content's fingerprint: random, and not hex, so no
 * fingerprint of any content (digest or HMAC) equals it. A replay of its idempotency key then
 * answers as a conflict, and the column no longer lets anyone test a guessed content against it.
 */
function unmatchableContentHash(): string {
  return `erased:${randomBytes(32).toString('hex')}`.slice(0, 64);
}

/**
 * What is kept of a message's addresses: its recipients and sender columns, or on a row stored
 * before them, the same read from its plain payload (and whether that payload names the address
 * as a value anywhere else, reply-to or a header).
 */
function keptAddresses(
  row: MessageRow,
  address: string,
): {
  recipients: string[];
  sender: string | null;
  legacyMention: boolean;
} {
  if (row.recipients !== null) {
    return {
      recipients: (JSON.parse(row.recipients) as string[]).map((address) => address.toLowerCase()),
      sender: row.sender,
      legacyMention: false,
    };
  }
  if (row.payload === '' || row.content_key_id !== null) {
    return { recipients: [], sender: row.sender, legacyMention: false };
  }
  const from = (JSON.parse(row.payload) as { from?: StoredAddress }).from?.address;
  return {
    recipients: storedAddresses({ payload: row.payload, contentKeyId: null, recipients: null }),
    sender: from ? from.toLowerCase() : row.sender,
    legacyMention: row.payload.toLowerCase().includes(JSON.stringify(address)),
  };
}
