import type { DatabaseSchema } from '@mailgateway/database';
import { CreateUpstreamBudget1796313600002 } from './migrations/1796313600002-create-upstream-budget';

/** Delivery's tables: the fleet's upstream budgets. A new migration is a new file in migrations/ and a line here. */
export const DELIVERY_SCHEMA: DatabaseSchema = {
  entities: [],
  migrations: [CreateUpstreamBudget1796313600002],
};
