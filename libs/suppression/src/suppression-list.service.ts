import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { NewSuppression, Suppression } from './suppression';

/**
 * The suppression list: addresses not to send to. Read at accept and again when an attempt is due;
 * written by provider feedback (in the feedback's own transaction) and by the admin RPCs.
 */
@Injectable()
export class SuppressionList {
  /**
   * The entries that stop `source` from sending to any of `addresses` (lowercased), one per
   * address: the source's own before ALL_SOURCES; expired entries do not count.
   */
  find(
    _source: string,
    _addresses: readonly string[],
    _manager?: EntityManager,
  ): Promise<Map<string, Suppression>> {
    throw new Error('SuppressionList.find: not written yet');
  }

  /**
   * Adds entries in the caller's transaction. An address already suppressed in that scope keeps
   * its entry, unless the new reason is stronger (complaint > unsubscribe > hard bounce > the
   * rest). Returns the entries that were added or strengthened.
   */
  add(_manager: EntityManager, _entries: readonly NewSuppression[]): Promise<Suppression[]> {
    throw new Error('SuppressionList.add: not written yet');
  }
}
