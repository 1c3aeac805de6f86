import { Injectable } from '@nestjs/common';
import type { Database } from 'better-sqlite3';
import { DataSource, EntityManager } from 'typeorm';
import type { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';

/**
 * Runs units of work in transactions. better-sqlite3 gives TypeORM one connection, so two
 * concurrent transactions would silently nest into each other; on SQLite they take turns.
 */
@Injectable()
export class TransactionRunner {
  private readonly serialize: boolean;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    this.serialize = dataSource.options.type === 'better-sqlite3';
  }

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.serialize) return this.dataSource.transaction(work);
    const result = this.tail.then(() => this.runOnSqlite(work));
    this.tail = result.catch(() => undefined);
    return result;
  }

  get dialect(): 'postgres' | 'sqlite' {
    return this.serialize ? 'sqlite' : 'postgres';
  }

  /**
   * SQLite may end a transaction by itself (SQLITE_FULL, SQLITE_IOERR). TypeORM's ROLLBACK then
   * fails before it resets its own count, and from then on every transaction becomes a savepoint
   * that never commits while callers are told OK. After any failed transaction, SQLite's own view
   * of the connection wins: whatever is still open is rolled back and TypeORM's count is reset.
   */
  private async runOnSqlite<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      this.realignWithSqlite();
      throw error;
    }
  }

  private realignWithSqlite(): void {
    const connection = (this.dataSource.driver as AbstractSqliteDriver).databaseConnection as Database;
    if (connection.inTransaction) connection.exec('ROLLBACK');
    // better-sqlite3 has one query runner for the whole data source: this is it.
    const bookkeeping = this.dataSource.createQueryRunner() as unknown as {
      isTransactionActive: boolean;
      transactionDepth: number;
    };
    bookkeeping.isTransactionActive = false;
    bookkeeping.transactionDepth = 0;
  }
}
