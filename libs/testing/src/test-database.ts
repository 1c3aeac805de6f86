import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_SCHEMA } from '@mailgateway/auth';
import { loadConfigSlice } from '@mailgateway/config';
import {
  combineSchemas,
  databaseConfig,
  dataSourceOptions,
  openDataSource,
  runMigrations,
} from '@mailgateway/database';
import { ENCRYPTION_SCHEMA } from '@mailgateway/encryption';
import { DELIVERY_SCHEMA } from '@mailgateway/delivery';
import { ERASURE_SCHEMA } from '@mailgateway/erasure';
import { FEEDBACK_SCHEMA } from '@mailgateway/feedback';
import { OUTBOX_SCHEMA } from '@mailgateway/outbox';
import { SUPPRESSION_SCHEMA } from '@mailgateway/suppression';
import { Client } from 'pg';
import { TEST_CONTENT_KEYS } from './test-content-keys';
import type { DataSource } from 'typeorm';

export const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

/** A database of its own for one suite, migrated, with the env that points a gateway at it. */
export interface TestDatabase {
  readonly kind: DatabaseKind;
  readonly env: Readonly<Record<string, string>>;
  drop(): Promise<void>;
}

/** A new empty database; PostgreSQL ones are migrated unless `migrate` is false. */
export async function provisionTestDatabase(
  kind: DatabaseKind,
  { migrate = true } = {},
): Promise<TestDatabase> {
  return kind === 'sqlite' ? provisionSqlite() : provisionPostgres(migrate);
}

async function provisionSqlite(): Promise<TestDatabase> {
  const folder = await mkdtemp(join(tmpdir(), 'mailgateway-sqlite-'));
  return {
    kind: 'sqlite',
    env: { SQLITE_PATH: join(folder, 'outbox.sqlite') },
    drop: () => rm(folder, { recursive: true, force: true }),
  };
}

async function provisionPostgres(migrate: boolean): Promise<TestDatabase> {
  const serverUrl = process.env.MAILGATEWAY_TEST_POSTGRES_URL;
  if (!serverUrl) {
    throw new Error(
      'MAILGATEWAY_TEST_POSTGRES_URL is unset: run the suites through jest (its global setup provides PostgreSQL)',
    );
  }
  const name = `mailgateway_test_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const env = { DATABASE_URL: url.toString(), CONTENT_KEYS: TEST_CONTENT_KEYS };
  if (migrate) {
    // The gateway does not migrate PostgreSQL on start; the release's migrate step does.
    const dataSource = await openTestDataSource(env);
    await runMigrations(dataSource);
    await dataSource.destroy();
  }
  return {
    kind: 'postgres',
    env,
    drop: () => onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** Every table a gateway keeps (what its app combines). */
export const TEST_SCHEMA = combineSchemas(
  AUTH_SCHEMA,
  ENCRYPTION_SCHEMA,
  OUTBOX_SCHEMA,
  DELIVERY_SCHEMA,
  FEEDBACK_SCHEMA,
  SUPPRESSION_SCHEMA,
  ERASURE_SCHEMA,
);

/** A TypeORM connection of the test's own to the database a gateway uses, for checking its rows. */
export function openTestDataSource(env: Readonly<Record<string, string>>): Promise<DataSource> {
  return openDataSource(dataSourceOptions(loadConfigSlice(databaseConfig, env), TEST_SCHEMA));
}

async function onServer(url: string, work: (client: Client) => Promise<unknown>): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
