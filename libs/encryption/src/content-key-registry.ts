import { runStatement, TransactionRunner } from '@mailgateway/database';
import { ContentKeyException } from './content-key.exception';
import { KeyRing } from './key-ring';

/**
 * Refuses a ring in which a known key id names another key than before: checks each key's check
 * value against the one stored when the id was first seen, and records ids seen for the first time.
 * Safe for replicas starting together (the first insert wins; every start compares).
 */
export async function verifyKeyRing(transactions: TransactionRunner, ring: KeyRing): Promise<void> {
  const now = Date.now();
  const stored = await transactions.run(async (manager) => {
    for (const id of ring.ids) {
      const parameters = transactions.parameters();
      await runStatement(
        manager,
        `INSERT INTO content_key (id, check_value, first_seen_at)
           VALUES (${parameters.add(id)}, ${parameters.add(ring.checkValue(id))}, ${parameters.add(now)})
           ON CONFLICT (id) DO NOTHING`,
        parameters.values,
      );
    }
    const parameters = transactions.parameters();
    return runStatement<{ id: string; check_value: string; first_seen_at: string | number }>(
      manager,
      `SELECT id, check_value, first_seen_at FROM content_key
        WHERE id IN (${ring.ids.map((id) => parameters.add(id)).join(', ')})`,
      parameters.values,
    );
  });
  for (const row of stored) {
    if (row.check_value !== ring.checkValue(row.id)) {
      throw new ContentKeyException(
        `content key ${row.id} is not the key that had id ${row.id} when it was first seen ` +
          `(${new Date(Number(row.first_seen_at)).toISOString()}): messages under ${row.id} could not be opened. ` +
          'Give that id its original key; a new key needs a new id.',
      );
    }
  }
}
