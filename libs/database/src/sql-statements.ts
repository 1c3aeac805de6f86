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

/** A column of rows passed to PostgreSQL as one array parameter: its name and element type. */
export interface ArrayColumn {
  readonly name: string;
  /** The array's element type, e.g. `text`, `bigint`, `integer`. */
  readonly type: string;
}

/**
 * PostgreSQL only: `unnest($1::text[], $2::bigint[], ...) AS alias(col, ...)`, the rows as one
 * array parameter per column. A statement of any row count then has a fixed text (one plan) and
 * a handful of parameters, instead of one placeholder per value. Values go in column order.
 */
export function unnestRows(
  parameters: SqlParameters,
  alias: string,
  columns: readonly ArrayColumn[],
  rows: readonly (readonly unknown[])[],
): string {
  const arrays = columns.map(
    ({ type }, index) => `${parameters.add(rows.map((row) => row[index]))}::${type}[]`,
  );
  return `unnest(${arrays.join(', ')}) AS ${alias}(${columns.map(({ name }) => name).join(', ')})`;
}
