import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import { FeedPosition, isFeedPosition } from './feed-position';
import { InvalidCursorException } from './invalid-cursor.exception';
import type { FeedFilter } from './outbox-feed';

/** The feed_state row holding the key that signs cursors, made by whichever replica needs it first. */
const CURSOR_KEY_STATE = 'cursor-key';
const CURSOR_VERSION = 1;
const MAC_LENGTH = 16;

type CursorBody = [version: number, source: string, filter: string, xid: number, sequence: number];

/**
 * Opaque cursors: a position in one source's feed under one filter, signed with a key kept in the
 * database (so every replica accepts every replica's cursors). A cursor that was altered, belongs
 * to another source or comes with another filter is refused rather than read from.
 */
@Injectable()
export class FeedCursors {
  private key: Promise<Buffer> | null = null;

  constructor(private readonly transactions: TransactionRunner) {}

  async encode(source: string, filter: FeedFilter, position: FeedPosition): Promise<string> {
    const body: CursorBody = [CURSOR_VERSION, source, filterDigest(filter), position.xid, position.sequence];
    const encoded = Buffer.from(JSON.stringify(body)).toString('base64url');
    return `${encoded}.${(await this.mac(encoded)).toString('base64url')}`;
  }

  /** The position `cursor` stands for; null for an empty cursor (the start of the feed). */
  async decode(cursor: string, source: string, filter: FeedFilter): Promise<FeedPosition | null> {
    if (cursor === '') return null;
    const [encoded, mac, ...rest] = cursor.split('.');
    const given = Buffer.from(mac ?? '', 'base64url');
    const expected = await this.mac(encoded);
    if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidCursorException('not a cursor this gateway issued (altered or malformed)');
    }
    const body = JSON.parse(Buffer.from(encoded, 'base64url').toString()) as CursorBody;
    const [version, cursorSource, digest, xid, sequence] = body;
    const position = { xid, sequence };
    if (version !== CURSOR_VERSION || !isFeedPosition(position)) {
      throw new InvalidCursorException('not a cursor this gateway issued (unknown format)');
    }
    if (cursorSource !== source) throw new InvalidCursorException('issued to another source');
    if (digest !== filterDigest(filter)) {
      throw new InvalidCursorException('issued for another filter; send the filter it came with');
    }
    return position;
  }

  private async mac(encoded: string): Promise<Buffer> {
    return createHmac('sha256', await this.cursorKey())
      .update(encoded)
      .digest()
      .subarray(0, MAC_LENGTH);
  }

  private cursorKey(): Promise<Buffer> {
    this.key ??= this.loadKey().catch((error: unknown) => {
      this.key = null;
      throw error;
    });
    return this.key;
  }

  /** The first replica to need a key stores one; every later read finds the same. */
  private loadKey(): Promise<Buffer> {
    return this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      await manager.query(
        `INSERT INTO feed_state (name, value) VALUES (${parameters.add(CURSOR_KEY_STATE)}, ${parameters.add(
          randomBytes(32).toString('base64'),
        )}) ON CONFLICT (name) DO NOTHING`,
        parameters.values,
      );
      const lookup = this.transactions.parameters();
      const [row] = await runStatement<{ value: string }>(
        manager,
        `SELECT value FROM feed_state WHERE name = ${lookup.add(CURSOR_KEY_STATE)}`,
        lookup.values,
      );
      return Buffer.from(row.value, 'base64');
    });
  }
}

/** Which filter a cursor belongs to: the same types in any order and the same message id. */
function filterDigest(filter: FeedFilter): string {
  const types = [...new Set(filter.types)].sort();
  return createHash('sha256')
    .update(JSON.stringify([types, filter.messageId ?? '']))
    .digest()
    .subarray(0, 12)
    .toString('base64url');
}
