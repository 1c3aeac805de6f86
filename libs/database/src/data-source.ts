import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import type { DatabaseSchema } from './database-schema';
import type { DatabaseConfig } from './database.settings';

/** TypeORM options for the configured database; durability is stated, never left to defaults. */
export function dataSourceOptions(database: DatabaseConfig, schema: DatabaseSchema): DataSourceOptions {
  const common = {
    entities: [...schema.entities],
    migrations: [...schema.migrations],
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
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  if (options.type === 'better-sqlite3' && options.database !== ':memory:') {
    mkdirSync(dirname(options.database), { recursive: true });
  }
  return new DataSource(options).initialize();
}
