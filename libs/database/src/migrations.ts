import type { DataSource } from 'typeorm';

const MIGRATION_LOCK = "hashtext('mailgateway.migrations')";

/**
 * SQLite is migrated on start (one process owns the file). PostgreSQL is migrated by the
 * `migrate` command once per release; a replica refuses to start on a schema that is behind.
 */
export async function prepareSchema(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type !== 'postgres') return runMigrations(dataSource);
  if (await dataSource.showMigrations()) {
    throw new Error(
      'The PostgreSQL schema has pending migrations: run the migrate command (npm run migrate) first',
    );
  }
  return [];
}

/**
 * Applies pending migrations and names them. On PostgreSQL an advisory lock keeps two replicas
 * (or two release jobs) from migrating at once; TypeORM has no such lock of its own.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const apply = async () =>
    (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
  if (dataSource.options.type !== 'postgres') return apply();
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
    return await apply();
  } finally {
    await lock.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`).catch(() => undefined);
    await lock.release();
  }
}
