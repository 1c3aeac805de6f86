import { Injectable } from '@nestjs/common';
import { ContentSealer, GatewaySecrets } from '@mailgateway/encryption';
import { GatewayException } from '@mailgateway/errors';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import type { EntityManager } from 'typeorm';
import { mailRecipients, mailSender } from '../mail-payload';

/** What one re-wrap call did. */
export interface RewrapResult {
  /** The key every re-wrapped message is now under (the ring's newest). */
  readonly keyId: string;
  readonly rewrapped: number;
  /** Messages still under an older key of the ring, or stored before content was sealed. */
  readonly remaining: number;
}

interface PendingRow {
  id: string;
  payload: string;
  content_key_id: string | null;
  wrapped_data_key: string | null;
}

/** Rows per transaction: short transactions, short row locks. */
const REWRAP_CHUNK = 100;

/**
 * Moves stored messages to the ring's newest key: a message under an older key of the ring gets its
 * data key re-wrapped (the sealed content is not touched); a message stored before content was
 * sealed is sealed now, and its recipients and sender filled in. Small transactions, rows locked
 * with SKIP LOCKED on PostgreSQL, so two replicas (or two operators) may run it at once. Messages
 * under a key no longer in the ring cannot be re-wrapped and are left alone (claims hand them back
 * until they expire, then they end FAILED); so are shredded ones, which have nothing left to wrap.
 */
@Injectable()
export class OutboxContentKeys {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly sealer: ContentSealer,
    private readonly secrets: GatewaySecrets,
  ) {}

  async rewrap(limit: number): Promise<RewrapResult> {
    // The gateway's own secrets first: a handful of rows, and they must not outlive an old key.
    await this.secrets.rewrap();
    let rewrapped = 0;
    // Within one call, ids only move forward: a row that cannot be re-wrapped is passed once.
    let after = '';
    while (rewrapped < limit) {
      const chunk = await this.transactions.run((manager) =>
        this.rewrapChunk(manager, after, Math.min(REWRAP_CHUNK, limit - rewrapped)),
      );
      if (chunk.seen === 0) break;
      rewrapped += chunk.rewrapped;
      after = chunk.lastId;
    }
    return { keyId: this.sealer.activeKeyId, rewrapped, remaining: await this.countPending() };
  }

  private async rewrapChunk(
    manager: EntityManager,
    after: string,
    limit: number,
  ): Promise<{ seen: number; rewrapped: number; lastId: string }> {
    const parameters = this.transactions.parameters();
    const rows = await runStatement<PendingRow>(
      manager,
      `SELECT id, payload, content_key_id, wrapped_data_key FROM outbox_message
        WHERE ${this.pendingCondition(parameters)} AND id > ${parameters.add(after)}
        ORDER BY id LIMIT ${parameters.add(limit)}${this.transactions.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : ''}`,
      parameters.values,
    );
    let rewrapped = 0;
    for (const row of rows) {
      const update = this.updateOf(row);
      if (!update) continue;
      await runStatement(manager, update.sql, update.values);
      rewrapped++;
    }
    return { seen: rows.length, rewrapped, lastId: rows.at(-1)?.id ?? after };
  }

  /** The statement that moves one row to the newest key; null when the row cannot be read. */
  private updateOf(row: PendingRow): { sql: string; values: unknown[] } | null {
    const parameters = this.transactions.parameters();
    try {
      if (row.content_key_id !== null) {
        const { contentKeyId, wrappedDataKey } = this.sealer.rewrap(
          row.id,
          row.content_key_id,
          row.wrapped_data_key,
        );
        return {
          sql: `UPDATE outbox_message SET content_key_id = ${parameters.add(contentKeyId)},
                       wrapped_data_key = ${parameters.add(wrappedDataKey)}
                 WHERE id = ${parameters.add(row.id)} AND content_key_id = ${parameters.add(row.content_key_id)}`,
          values: parameters.values,
        };
      }
      const legacy = JSON.parse(row.payload) as Parameters<typeof mailRecipients>[0] &
        Parameters<typeof mailSender>[0];
      const sealed = this.sealer.seal(row.id, row.payload);
      return {
        sql: `UPDATE outbox_message SET payload = ${parameters.add(sealed.payload)},
                     content_key_id = ${parameters.add(sealed.contentKeyId)},
                     wrapped_data_key = ${parameters.add(sealed.wrappedDataKey)},
                     recipients = COALESCE(recipients, ${parameters.add(JSON.stringify(mailRecipients(legacy)))}),
                     sender = COALESCE(sender, ${parameters.add(mailSender(legacy))})
               WHERE id = ${parameters.add(row.id)} AND content_key_id IS NULL AND payload <> ''`,
        values: parameters.values,
      };
    } catch (error) {
      // Altered, or not JSON: left as it is, and its claim will say so.
      if (error instanceof GatewayException || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  private async countPending(): Promise<number> {
    const parameters = this.transactions.parameters();
    const [{ count }] = await this.transactions.read(
      (manager) =>
        manager.query(
          `SELECT COUNT(*) AS count FROM outbox_message WHERE ${this.pendingCondition(parameters)}`,
          parameters.values,
        ) as Promise<{ count: string | number }[]>,
    );
    return Number(count);
  }

  /** Under an older key the ring still holds, or plain and not shredded. */
  private pendingCondition(parameters: ReturnType<TransactionRunner['parameters']>): string {
    const older = this.sealer.ring.ids.filter((id) => id !== this.sealer.activeKeyId);
    const underOlder =
      older.length > 0 ? ` OR content_key_id IN (${older.map((id) => parameters.add(id)).join(', ')})` : '';
    return `((content_key_id IS NULL AND payload <> '')${underOlder})`;
  }
}
