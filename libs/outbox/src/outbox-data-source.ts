import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseConfig } from '@mailgateway/config';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MessageEventEntity } from './entities/message-event.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { outboxMigrations } from './migrations';

export function outboxDataSourceOptions(database: DatabaseConfig): DataSourceOptions {
  const common = {
    entities: [OutboxMessageEntity, MessageEventEntity],
    migrations: outboxMigrations,
    synchronize: false,
    migrationsRun: false,
    logging: false,
  };
  if (database.type === 'sqlite') {
    return {
      ...common,
      type: 'better-sqlite3',
      database: database.path,
      enableWAL: true,
      prepareDatabase: (db: { pragma(source: string): unknown }) => {
        // WAL + FULL: a commit is on disk before the caller hears OK.
        db.pragma('synchronous = FULL');
        db.pragma('busy_timeout = 5000');
      },
    };
  }
  return {
    ...common,
    type: 'postgres',
    url: database.url,
    applicationName: 'mailgateway',
    extra: {
      max: database.poolSize,
      // Without it pg waits forever for a pooled connection when the database is gone.
      connectionTimeoutMillis: database.connectTimeoutMs,
      // Stated explicitly: an OK must never rest on an asynchronous commit.
      options: '-c synchronous_commit=on',
    },
  };
}

/** Opens the database; creates the SQLite file's folder first. */
export async function openOutboxDataSource(options: DataSourceOptions): Promise<DataSource> {
  if (options.type === 'better-sqlite3' && options.database !== ':memory:') {
    mkdirSync(dirname(options.database), { recursive: true });
  }
  return new DataSource(options).initialize();
}

/**
 * SQLite is migrated on start (one process owns the file). PostgreSQL is migrated by the
 * `migrate` command once per release; a replica refuses to start on a schema that is behind.
 */
export async function prepareOutboxSchema(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type !== 'postgres') return runOutboxMigrations(dataSource);
  if (await dataSource.showMigrations()) {
    throw new Error(
      'The PostgreSQL schema has pending migrations: run the migrate command (npm run migrate) first',
    );
  }
  return [];
}

/**
 * Applies pending migrations. On PostgreSQL an advisory lock keeps two replicas (or two release
 * jobs) from migrating at once; TypeORM has no such lock of its own.
 */
export async function runOutboxMigrations(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type !== 'postgres') {
    return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
  }
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query("SELECT pg_advisory_lock(hashtext('mailgateway.migrations'))");
    return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
  } finally {
    await lock.query("SELECT pg_advisory_unlock(hashtext('mailgateway.migrations'))").catch(() => undefined);
    await lock.release();
  }
}
