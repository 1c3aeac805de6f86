import { DATABASE_KINDS, openTestDataSource, provisionTestDatabase, TEST_SCHEMA } from '@mailgateway/testing';
import { loadConfigSlice } from '@mailgateway/config';
import { dataSourceOptions, openDataSource } from './data-source';
import { databaseConfig } from './database.settings';
import { prepareSchema, runMigrations } from './migrations';
import { isUniqueViolation } from './storage-errors';
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

describe('lone statements on postgres', () => {
  const withRunner = async (
    settings: Record<string, string>,
    work: (runner: TransactionRunner) => Promise<void>,
  ): Promise<void> => {
    const database = await provisionTestDatabase('postgres');
    // One connection, so every statement lands on the session whose prepared statements are read.
    const env = { ...database.env, DATABASE_POOL_SIZE: '1', ...settings };
    const dataSource = await openTestDataSource(env);
    try {
      await work(new TransactionRunner(dataSource, loadConfigSlice(databaseConfig, env)));
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  };
  const prepared = (runner: TransactionRunner) =>
    runner.statement<{ statement: string }>('SELECT statement FROM pg_prepared_statements', []);
  const commit = 'SELECT $1::int + 1 AS answer';

  it('prepares each text once per connection, and answers as an unnamed statement would', async () => {
    await withRunner({}, async (runner) => {
      expect(await runner.statement(commit, [41])).toEqual([{ answer: 42 }]);
      expect(await runner.statement(commit, [1])).toEqual([{ answer: 2 }]);
      const statements = (await prepared(runner)).map(({ statement }) => statement);
      expect(statements.filter((text) => text === commit)).toHaveLength(1);
    });
  });

  it('prepares nothing with DATABASE_PREPARED_STATEMENTS=false', async () => {
    await withRunner({ DATABASE_PREPARED_STATEMENTS: 'false' }, async (runner) => {
      await runner.statement(commit, [41]);
      expect(await prepared(runner)).toEqual([]);
    });
  });

  it('reports a failed statement as a query failure the callers recognise', async () => {
    await withRunner({}, async (runner) => {
      await runner.statement('CREATE TABLE once (id int PRIMARY KEY)', []);
      await runner.statement('INSERT INTO once VALUES ($1)', [1]);
      const failure = await runner.statement('INSERT INTO once VALUES ($1)', [1]).catch((error) => error);
      expect(isUniqueViolation(failure)).toBe(true);
      // The connection stays usable after a failed prepared statement.
      expect(await runner.statement(commit, [1])).toEqual([{ answer: 2 }]);
    });
  });
});
