import { Client } from 'pg';

/**
 * Holds `LOCK TABLE <table> IN EXCLUSIVE MODE` in an open transaction on a PostgreSQL connection
 * of its own: reads of the table go on, every INSERT, UPDATE and DELETE waits until release(). A
 * way to stop a gateway's commits from finishing without stopping the database.
 */
export class TableWriteLock {
  private released = false;

  private constructor(
    private readonly client: Client,
    readonly table: string,
  ) {}

  static async take(databaseUrl: string, table: string): Promise<TableWriteLock> {
    if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`not a plain table name: ${table}`);
    const client = new Client({ connectionString: databaseUrl, application_name: 'table-write-lock' });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return new TableWriteLock(client, table);
  }

  /** Other sessions' lock requests on the table that wait for this one (writers being held). */
  async waiting(): Promise<number> {
    const { rows } = await this.client.query<{ waiting: string }>(
      `SELECT COUNT(*) AS waiting FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE c.relname = $1 AND NOT l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [this.table],
    );
    return Number(rows[0].waiting);
  }

  /** Ends the transaction (nothing was written in it) and closes the connection; idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.client.query('ROLLBACK');
    } finally {
      await this.client.end();
    }
  }
}
