import { CreateOutbox1763700000000 } from './1763700000000-create-outbox';
import { CreateApiSourcesAndKeys1795240902235 } from './1795240902235-create-api-sources-and-keys';
import { AddMessageTraceparent1795240975003 } from './1795240975003-add-message-traceparent';

/** Every migration, oldest first. A new migration is a new file here and a line in this list. */
export const outboxMigrations = [
  CreateOutbox1763700000000,
  CreateApiSourcesAndKeys1795240902235,
  AddMessageTraceparent1795240975003,
];
