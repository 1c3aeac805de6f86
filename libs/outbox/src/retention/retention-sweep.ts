import type { EntityManager } from 'typeorm';

/**
 * Another lib's table that keeps rows only for a while (provider notifications, suppressions
 * with an expiry): the retention loop runs its batches beside the outbox's.
 */
export interface RetentionSweep {
  /** The table it deletes from, for the metrics. */
  readonly table: string;
  /** Deletes at most `limit` rows due at `now`, in one short transaction; returns how many. */
  purgeBatch(now: number, limit: number, historyRetentionMs: number): Promise<number>;
  /**
   * For a table whose rows name a message: deletes the rows naming these messages, inside the
   * transaction that deletes the messages (so they go when their message goes, whatever its
   * source's history retention); returns how many.
   */
  purgeWithMessages?(manager: EntityManager, messageIds: readonly string[]): Promise<number>;
}

export const RETENTION_SWEEPS = Symbol('retention sweeps');
