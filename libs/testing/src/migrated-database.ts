import { runMigrations, TransactionRunner } from '@mailgateway/database';
import type { DataSource } from 'typeorm';
import { TableWriteLock } from './table-write-lock';
import { DatabaseKind, openTestDataSource, provisionTestDatabase } from './test-database';

/** A database of its own with every table migrated, opened, for specs of code that keeps rows. */
export interface MigratedTestDatabase {
  readonly kind: DatabaseKind;
  readonly env: Readonly<Record<string, string>>;
  readonly dataSource: DataSource;
  readonly transactions: TransactionRunner;
  /** Another connection (pool) to the same database, as a second replica would have. */
  openReplica(): Promise<{ dataSource: DataSource; transactions: TransactionRunner }>;
  count(table: string, where?: string): Promise<number>;
  close(): Promise<void>;
}

export async function openMigratedTestDatabase(kind: DatabaseKind): Promise<MigratedTestDatabase> {
  const database = await provisionTestDatabase(kind);
  const dataSource = await openTestDataSource(database.env);
  await runMigrations(dataSource);
  const replicas: DataSource[] = [];
  return {
    kind,
    env: database.env,
    dataSource,
    transactions: new TransactionRunner(dataSource),
    openReplica: async () => {
      const replica = await openTestDataSource(database.env);
      replicas.push(replica);
      return { dataSource: replica, transactions: new TransactionRunner(replica) };
    },
    count: async (table, where) => {
      const [{ count }] = await dataSource.query(
        `SELECT COUNT(*) AS count FROM ${table}${where ? ` WHERE ${where}` : ''}`,
      );
      return Number(count);
    },
    close: async () => {
      for (const replica of replicas) await replica.destroy();
      await dataSource.destroy();
      await database.drop();
    },
  };
}

/**
 * Holds the writer until released, so commits queue behind it: on PostgreSQL an exclusive lock on
 * `table` (TableWriteLock); on SQLite, with its one connection, a transaction that keeps it.
 * Resolves once held.
 */
export async function holdWriter(
  database: MigratedTestDatabase,
  table = 'outbox_message',
): Promise<() => Promise<void>> {
  if (database.kind === 'postgres') {
    const lock = await TableWriteLock.take(database.env.DATABASE_URL, table);
    return () => lock.release();
  }
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const holding = new Promise<void>((resolve) => (held = resolve));
  const done = database.transactions.run(async () => {
    held();
    await released;
  });
  await holding;
  return async () => {
    release();
    await done;
  };
}
