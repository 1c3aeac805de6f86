import type { DatabaseSchema } from '@mailgateway/database';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { CreateApiSourcesAndKeys1795240902235 } from './migrations/1795240902235-create-api-sources-and-keys';
import { AddSourceDrivers1796313600001 } from './migrations/1796313600001-add-source-drivers';
import { AddSourceSuppressionMode1796400000002 } from './migrations/1796400000002-add-source-suppression-mode';
import { AddSourceRetention1796500200001 } from './migrations/1796500200001-add-source-retention';

/** Sources and their keys. A new migration is a new file in migrations/ and a line here. */
export const AUTH_SCHEMA: DatabaseSchema = {
  entities: [ApiSourceEntity, ApiKeyEntity],
  migrations: [
    CreateApiSourcesAndKeys1795240902235,
    AddSourceDrivers1796313600001,
    AddSourceSuppressionMode1796400000002,
    AddSourceRetention1796500200001,
  ],
};
