import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { freePort } from './free-port';
import { waitFor } from './wait-for';

/** The Redis the suites share (REDIS_URL, or one the global setup started); fails loudly without. */
export function testRedisUrl(): string {
  const url = process.env.MAILGATEWAY_TEST_REDIS_URL;
  if (!url) {
    throw new Error(
      'MAILGATEWAY_TEST_REDIS_URL is unset: run the suites through jest, with REDIS_URL set or redis-server installed',
    );
  }
  return url;
}

/** A key prefix no other run or suite uses, so parallel runs on one Redis never share counters. */
export function uniqueRedisPrefix(): string {
  return `mailgateway-test:${randomBytes(6).toString('hex')}:`;
}

export function redisPings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A redis-server of the test's own on a free port, which it may stop and start again (never the
 * machine's shared Redis). Needs the redis-server binary.
 */
export class OwnRedisServer {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedisServer> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error('redis-server is not installed: this suite starts and stops a Redis of its own');
    }
    const server = new OwnRedisServer(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor('redis-server to answer', async () => ((await redisPings(this.port)) ? true : undefined));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
