import { Injectable, Optional } from '@nestjs/common';
import type { Database } from 'better-sqlite3';
import type { Client, Pool } from 'pg';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { InjectConfig } from '@mailgateway/config';
import type { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';
import { DatabaseConfig, databaseConfig } from './database.settings';
import { SqlDialect, SqlParameters } from './sql-statements';
import { classifyStorageError } from './storage-errors';

/**
 * Runs units of work in transactions, and reads outside them. better-sqlite3 gives TypeORM
 * one connection, so two concurrent transactions would silently nest into each other; on SQLite
 * they take turns. A database that cannot be used surfaces as StorageUnavailableException.
 */
@Injectable()
export class TransactionRunner {
  readonly dialect: SqlDialect;
  /** Transactions that can run side by side: the pool's size on PostgreSQL, one on SQLite. */
  readonly connections: number;
  private tail: Promise<unknown> = Promise.resolve();
  /** Names of the statements prepared on PostgreSQL connections, by their text. */
  private readonly preparedNames = new Map<string, string>();
  private readonly prepareStatements: boolean;

  constructor(
    private readonly dataSource: DataSource,
    @Optional() @InjectConfig(databaseConfig) config?: DatabaseConfig,
  ) {
    this.dialect = dataSource.options.type === 'better-sqlite3' ? 'sqlite' : 'postgres';
    const extra = dataSource.options.extra as { max?: number } | undefined;
    this.connections = this.dialect === 'sqlite' ? 1 : (extra?.max ?? 10);
    this.prepareStatements = config?.type === 'postgres' ? config.preparedStatements : true;
  }

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') return this.dataSource.transaction(work).catch(rethrowClassified);
    const result = this.tail.then(() => this.runOnSqlite(work));
    this.tail = result.catch(() => undefined);
    return result.catch(rethrowClassified);
  }

  /**
   * PostgreSQL only: one statement on a pooled connection, without BEGIN/COMMIT. A single statement
   * is its own transaction, so when it resolves its writes are committed: one round trip where an
   * explicit transaction takes three. (On SQLite a statement could land inside an open transaction
   * of the one connection: use run().) Straight to the pool, past TypeORM's query runner, and
   * prepared once per connection (unless DATABASE_PREPARED_STATEMENTS is off): PostgreSQL then
   * neither parses nor plans the accept path's commit again, about a fifth of its CPU per call.
   */
  async statement<Row>(sql: string, parameters: unknown[]): Promise<Row[]> {
    if (this.dialect !== 'postgres') throw new Error('a lone statement commits by itself only on PostgreSQL');
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    try {
      const result = await pool.query({ name: this.preparedName(sql), text: sql, values: parameters });
      return result.rows as Row[];
    } catch (error) {
      // As TypeORM reports a failed query, so isUniqueViolation and the rest read it the same way.
      return rethrowClassified(new QueryFailedError(sql, parameters, error as Error));
    }
  }

  /** A name for `sql` to be prepared under, or undefined to send it unnamed (parsed every time). */
  private preparedName(sql: string): string | undefined {
    if (!this.prepareStatements) return undefined;
    const known = this.preparedNames.get(sql);
    if (known !== undefined || this.preparedNames.size >= MAX_PREPARED_STATEMENTS) return known;
    const name = `mailgateway_${this.preparedNames.size + 1}`;
    this.preparedNames.set(sql, name);
    return name;
  }

  /**
   * Reads outside a transaction of their own, so they never wait behind queued commits. On SQLite,
   * with its one connection, a read issued while a transaction is open runs inside it and may see
   * that transaction's uncommitted rows: use run() where that matters.
   */
  async read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await work(this.dataSource.manager);
    } catch (error) {
      return rethrowClassified(error);
    }
  }

  /**
   * PostgreSQL only: a new connection of its own, outside the pool, with the pool's settings (for
   * LISTEN, which needs a session that stays). Not yet connected; the caller owns and ends it.
   */
  dedicatedConnection(applicationName: string): Client {
    if (this.dialect !== 'postgres') throw new Error('dedicated connections exist only on PostgreSQL');
    const options = this.dataSource.options as { url?: string; extra?: { connectionTimeoutMillis?: number } };
    const { Client: PgClient } = (this.dataSource.driver as unknown as { postgres: typeof import('pg') })
      .postgres;
    return new PgClient({
      connectionString: options.url,
      application_name: applicationName,
      connectionTimeoutMillis: options.extra?.connectionTimeoutMillis,
      // A listener only reads: without TCP keep-alive a silently dropped connection would go unnoticed.
      keepAlive: true,
    });
  }

  /** Placeholders in this database's style ($1 or ?). */
  parameters(): SqlParameters {
    return new SqlParameters(this.dialect);
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

/**
 * Statement texts prepared on each connection, at most: the callers of statement() send a few
 * fixed texts; should one ever vary, those past this bound go unnamed instead of growing every
 * connection's cache.
 */
const MAX_PREPARED_STATEMENTS = 50;

function rethrowClassified(error: unknown): never {
  throw classifyStorageError(error);
}
