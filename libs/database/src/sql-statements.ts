import type { EntityManager } from 'typeorm';

export type SqlDialect = 'postgres' | 'sqlite';

/** Collects statement parameters and writes the placeholder each dialect expects ($1 or ?). */
export class SqlParameters {
  readonly values: unknown[] = [];

  constructor(private readonly dialect: SqlDialect) {}

  add(value: unknown): string {
    this.values.push(value);
    return this.dialect === 'postgres' ? `$${this.values.length}` : '?';
  }
}

/** Runs a statement; structured results look the same on pg and better-sqlite3 (plain ones differ). */
export async function runStatement<Row>(
  manager: EntityManager,
  sql: string,
  parameters: unknown[],
): Promise<Row[]> {
  const result = await manager.queryRunner!.query(sql, parameters, true);
  return (result.records ?? []) as Row[];
}

/**
 * One multi-row INSERT: a fraction of the work of an ORM insert per row, which matters on the
 * accept path. Values go in column order.
 */
export async function insertRows(
  manager: EntityManager,
  dialect: SqlDialect,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  if (rows.length === 0) return;
  const parameters = new SqlParameters(dialect);
  const values = rows.map((row) => `(${row.map((value) => parameters.add(value)).join(', ')})`);
  await manager.queryRunner!.query(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(', ')}`,
    parameters.values,
  );
}
