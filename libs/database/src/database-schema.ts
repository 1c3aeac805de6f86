/**
 * The tables one library owns: its entities and the migrations that create and change them. The
 * app combines the parts it runs with; TypeORM runs the migrations of all parts in timestamp order.
 */
export interface DatabaseSchema {
  readonly entities: readonly Function[];
  readonly migrations: readonly Function[];
}

export function combineSchemas(...parts: readonly DatabaseSchema[]): DatabaseSchema {
  return {
    entities: parts.flatMap((part) => part.entities),
    migrations: parts.flatMap((part) => part.migrations),
  };
}
