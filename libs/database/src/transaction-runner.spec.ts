import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DataSource } from 'typeorm';
import { TransactionRunner } from './transaction-runner';

describe(TransactionRunner.name, () => {
  let folder: string;
  let dataSource: DataSource;
  let sut: TransactionRunner;
  const committedRows = () => {
    // A second connection sees only what was really committed.
    const reader = new Database(join(folder, 'db.sqlite'), { readonly: true });
    try {
      return (reader.prepare('SELECT id FROM item ORDER BY id').all() as { id: number }[]).map(
        (row) => row.id,
      );
    } finally {
      reader.close();
    }
  };

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-transactions-'));
    dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: join(folder, 'db.sqlite'),
      enableWAL: true,
    }).initialize();
    await dataSource.query('CREATE TABLE item (id INTEGER PRIMARY KEY)');
    sut = new TransactionRunner(dataSource);
  });

  afterEach(async () => {
    await dataSource.destroy();
    await rm(folder, { recursive: true, force: true });
  });

  it('commits the work of a transaction and rolls back a failed one', async () => {
    await sut.run((manager) => manager.query('INSERT INTO item (id) VALUES (1)'));
    await expect(
      sut.run(async (manager) => {
        await manager.query('INSERT INTO item (id) VALUES (2)');
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    expect(committedRows()).toEqual([1]);
  });

  it('keeps committing after SQLite ended a transaction by itself, as it does when the disk is full', async () => {
    await expect(
      sut.run(async (manager) => {
        await manager.query('INSERT INTO item (id) VALUES (1)');
        await manager.query('ROLLBACK'); // what SQLite does on SQLITE_FULL
        throw new Error('database or disk is full');
      }),
    ).rejects.toThrow('database or disk is full');
    await expect(
      sut.run(async (manager) => {
        await manager.query('INSERT INTO item (id) VALUES (2)');
        throw new Error('another failure');
      }),
    ).rejects.toThrow('another failure');

    await sut.run((manager) => manager.query('INSERT INTO item (id) VALUES (3)'));

    expect(committedRows()).toEqual([3]);
  });

  it('runs concurrent units of work one after the other on the single connection', async () => {
    const order: string[] = [];
    await Promise.all(
      [1, 2, 3].map((id) =>
        sut.run(async (manager) => {
          order.push(`start ${id}`);
          await manager.query(`INSERT INTO item (id) VALUES (${id})`);
          await new Promise((resolve) => setTimeout(resolve, 5));
          order.push(`end ${id}`);
        }),
      ),
    );
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(committedRows()).toEqual([1, 2, 3]);
  });
});
