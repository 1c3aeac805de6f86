import { DATABASE_KINDS, openTestDataSource, provisionTestDatabase, TEST_SCHEMA } from '@mailgateway/testing';
import { loadConfigSlice } from '@mailgateway/config';
import { dataSourceOptions, openDataSource } from './data-source';
import { databaseConfig } from './database.settings';
import { prepareSchema, runMigrations } from './migrations';
import { TransactionRunner } from './transaction-runner';

describe.each(DATABASE_KINDS)('the database on %s', (kind) => {
  it('commits durably: the settings in force are the ones an OK relies on', async () => {
    const database = await provisionTestDatabase(kind);
    if (kind === 'postgres') {
      // An operator's default that would make commits asynchronous: the gateway's own setting wins.
      const admin = await openTestDataSource(database.env);
      const [{ name }] = await admin.query('SELECT current_database() AS name');
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
      await admin.destroy();
    }
    const dataSource = await openTestDataSource(database.env);
    try {
      if (kind === 'sqlite') {
        // 2 is FULL: with WAL, every commit is on disk before it returns.
        expect(await dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 2 }]);
        expect(await dataSource.query('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
      } else {
        // Read on several pooled connections at once: each must have it, not just the first.
        const readings = await Promise.all(
          Array.from({ length: 4 }, () =>
            new TransactionRunner(dataSource).run((manager) => manager.query('SHOW synchronous_commit')),
          ),
        );
        expect(readings).toEqual(Array.from({ length: 4 }, () => [{ synchronous_commit: 'on' }]));
      }
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});

// SQLite belongs to one process; on PostgreSQL replicas and release jobs may migrate together.
describe('migrations on postgres', () => {
  it('migrates once, even when two processes migrate at the same moment', async () => {
    const database = await provisionTestDatabase('postgres', { migrate: false });
    const options = dataSourceOptions(loadConfigSlice(databaseConfig, database.env), TEST_SCHEMA);
    const replicas = await Promise.all([openDataSource(options), openDataSource(options)]);
    try {
      const applied = await Promise.all(replicas.map((replica) => runMigrations(replica)));

      expect(applied.flat().sort()).toEqual(
        TEST_SCHEMA.migrations.map((migration) => (migration as { name: string }).name).sort(),
      );
      expect(await runMigrations(replicas[0])).toEqual([]);
      await expect(prepareSchema(replicas[1])).resolves.toEqual([]);
    } finally {
      for (const replica of replicas) await replica.destroy();
      await database.drop();
    }
  });

  it('is refused at start, naming the migrate command', async () => {
    const database = await provisionTestDatabase('postgres', { migrate: false });
    const dataSource = await openTestDataSource(database.env);
    try {
      await expect(prepareSchema(dataSource)).rejects.toThrow(/pending migrations: run the migrate command/);
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});
