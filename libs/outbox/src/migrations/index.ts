import { CreateOutbox1763700000000 } from './1763700000000-create-outbox';

/** Every migration, oldest first. A new migration is a new file here and a line in this list. */
export const outboxMigrations = [CreateOutbox1763700000000];
