import type { DatabaseSchema } from '@mailgateway/database';
import { ErasureRecordEntity } from './erasure-record.entity';
import { CreateErasureRecord1796500300000 } from './migrations/1796500300000-create-erasure-record';
import { AddErasureRecordState1796500300001 } from './migrations/1796500300001-add-erasure-record-state';

/** The erasure record's table. A new migration is a new file in migrations/ and a line here. */
export const ERASURE_SCHEMA: DatabaseSchema = {
  entities: [ErasureRecordEntity],
  migrations: [CreateErasureRecord1796500300000, AddErasureRecordState1796500300001],
};
