import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DataSource, QueryRunner } from 'typeorm';
import { TransactionRunner } from './transaction-runner';

describe(TransactionRunner.name, () => {
  let folder: string;
  let dataSource: DataSource;
  let sut: TransactionRunner;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-transactions-'));
    dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: join(folder, 'db.sqlite'),
      enableWAL: true,
    }).initialize();
    await dataSource.query('CREATE TABLE item (name TEXT NOT NULL, body TEXT NOT NULL)');
    sut = new TransactionRunner(dataSource);
  });

  afterEach(async () => {
    await dataSource.destroy();
    await rm(folder, { recursive: true, force: true });
  });

  const insert = (name: string, bytes = 10) =>
    sut.run((manager) =>
      manager.query('INSERT INTO item (name, body) VALUES (?, ?)', [name, 'x'.repeat(bytes)]),
    );

  /** What another process reads: only what was committed. */
  const committed = () => {
    const reader = new Database(join(folder, 'db.sqlite'), { readonly: true });
    try {
      return (reader.prepare('SELECT name FROM item ORDER BY rowid').all() as { name: string }[]).map(
        ({ name }) => name,
      );
    } finally {
      reader.close();
    }
  };

  it('commits what it reports committed after a write fails for want of space, and loses none of it later', async () => {
    await insert('before');
    // A page budget stands in for a full disk: writes past it fail with SQLITE_FULL.
    const [{ page_count: pages }] = await dataSource.query('PRAGMA page_count');
    await dataSource.query(`PRAGMA max_page_count = ${Number(pages) + 2}`);

    await expect(insert('too large', 100_000)).rejects.toThrow(/full/);
    await insert('after');
    await expect(insert('too large again', 100_000)).rejects.toThrow(/full/);
    await insert('last');

    expect(committed()).toEqual(['before', 'after', 'last']);
  });

  it('starts afresh after a COMMIT that failed, so later commits are real and no failure undoes them', async () => {
    await insert('before');
    // What a full disk does to a WAL commit: SQLite rolls the transaction back and COMMIT fails,
    // and TypeORM's own ROLLBACK then fails too ("no transaction is active").
    const runner = (dataSource.driver as unknown as { queryRunner: QueryRunner }).queryRunner;
    const query = runner.query.bind(runner);
    let failCommit = true;
    runner.query = ((sql: string, ...rest: unknown[]) => {
      if (sql === 'COMMIT' && failCommit) {
        failCommit = false;
        (dataSource.driver as unknown as { databaseConnection: Database.Database }).databaseConnection.exec(
          'ROLLBACK',
        );
        return Promise.reject(new Error('SqliteError: database or disk is full'));
      }
      return query(sql, ...(rest as []));
    }) as typeof runner.query;

    await expect(insert('lost with the disk')).rejects.toThrow(/full/);
    await expect(sut.run((manager) => manager.query('INSERT INTO missing VALUES (1)'))).rejects.toThrow(
      /no such table/,
    );
    await insert('after');
    await insert('last');

    expect(committed()).toEqual(['before', 'after', 'last']);
  });
});
