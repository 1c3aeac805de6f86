import type { DatabaseSchema } from '@mailgateway/database';
import { SuppressionEntryEntity } from './entities/suppression-entry.entity';
import { CreateSuppressionList1796400000001 } from './migrations/1796400000001-create-suppression-list';
import { IndexSuppressionExpiry1796500200002 } from './migrations/1796500200002-index-suppression-expiry';

/** The suppression list's table. A new migration is a new file in migrations/ and a line here. */
export const SUPPRESSION_SCHEMA: DatabaseSchema = {
  entities: [SuppressionEntryEntity],
  migrations: [CreateSuppressionList1796400000001, IndexSuppressionExpiry1796500200002],
};
