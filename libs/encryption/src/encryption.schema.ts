import type { DatabaseSchema } from '@mailgateway/database';
import { CreateContentKeys1796500100000 } from './migrations/1796500100000-create-content-keys';

/** Key check values and wrapped gateway secrets. A new migration is a new file in migrations/ and a line here. */
export const ENCRYPTION_SCHEMA: DatabaseSchema = {
  entities: [],
  migrations: [CreateContentKeys1796500100000],
};
