import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';

export type DatabaseConfig =
  | { readonly type: 'sqlite'; readonly path: string }
  | {
      readonly type: 'postgres';
      readonly url: string;
      readonly poolSize: number;
      readonly connectTimeoutMs: number;
      readonly preparedStatements: boolean;
    };

export const databaseConfig = defineConfig({
  name: 'database',
  settings: {
    DATABASE_URL: setting({
      description: 'PostgreSQL connection URL. When unset the gateway uses the embedded SQLite file.',
      schema: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
        .optional(),
      sensitive: true,
    }),
    SQLITE_PATH: setting({
      description: 'SQLite database file, used when DATABASE_URL is unset. Created with its folder.',
      schema: z.string().min(1).default('data/mailgateway.sqlite'),
    }),
    DATABASE_POOL_SIZE: setting({
      description: 'PostgreSQL connections per process.',
      schema: integer(1, 200).default(10),
    }),
    DATABASE_CONNECT_TIMEOUT_MS: setting({
      description:
        'How long to wait for a PostgreSQL connection (from the pool or a new one) before failing.',
      schema: integer(100, 120_000).default(5_000),
    }),
    DATABASE_PREPARED_STATEMENTS: setting({
      description:
        "Prepare the accept path's commit statement once per PostgreSQL connection. Turn off behind a pooler in transaction mode that cannot carry prepared statements (pgbouncer before 1.21, or without max_prepared_statements).",
      schema: boolean.default(true),
    }),
  },
  build: (values): DatabaseConfig =>
    values.DATABASE_URL
      ? {
          type: 'postgres',
          url: values.DATABASE_URL,
          poolSize: values.DATABASE_POOL_SIZE,
          connectTimeoutMs: values.DATABASE_CONNECT_TIMEOUT_MS,
          preparedStatements: values.DATABASE_PREPARED_STATEMENTS,
        }
      : { type: 'sqlite', path: values.SQLITE_PATH },
});
