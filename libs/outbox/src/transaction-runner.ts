import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/** The parts of TypeORM's SQLite driver that hold its one connection and its transaction state. */
interface SqliteDriverState {
  databaseConnection?: { inTransaction: boolean; exec(sql: string): unknown };
  queryRunner?: { isTransactionActive: boolean };
}

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

  private async runOnSqlite<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      this.resetAfterFailedTransaction();
      throw error;
    }
  }

  /**
   * When COMMIT or ROLLBACK itself fails (SQLITE_FULL, SQLITE_IOERR), TypeORM keeps believing the
   * transaction is open and nests every later one in a SAVEPOINT, while SQLite may have kept the
   * failed transaction open: later "commits" then only release savepoints, and the next failure
   * rolls them all back, messages already acknowledged included. So after any failure the
   * connection leaves its transaction and TypeORM's bookkeeping starts again from zero.
   */
  private resetAfterFailedTransaction(): void {
    const driver = this.dataSource.driver as unknown as SqliteDriverState;
    const connection = driver.databaseConnection;
    if (connection?.inTransaction) connection.exec('ROLLBACK');
    const runner = driver.queryRunner as unknown as {
      isTransactionActive: boolean;
      transactionDepth: number;
    };
    if (runner) {
      runner.isTransactionActive = false;
      runner.transactionDepth = 0;
    }
  }
}
