import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, waitFor } from '@mailgateway/testing';
import { TcpRelay } from './tcp-relay';

/** Where the PostgreSQL server binaries are: POSTGRES_BIN_DIR, or Debian's PostgreSQL 15. */
const BIN_DIR = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const BINARIES = ['initdb', 'postgres', 'pg_basebackup'] as const;
const STANDBY_NAME = 'standby';
/** The last lines a server wrote, kept to explain a failure. */
const LOG_TAIL_CHARS = 4_000;

export type Replication = 'synchronous' | 'asynchronous';

export interface ReplicatedPostgresOptions {
  /**
   * synchronous: `synchronous_standby_names = 'FIRST 1 (standby)'`, so a commit returns only once
   * the standby has flushed it. asynchronous: `synchronous_standby_names = ''`.
   */
  readonly replication: Replication;
  /** Delay added in each direction on the replication link, as to a standby in another zone. */
  readonly linkLatencyMs?: number;
}

/**
 * A primary and a streaming standby of the suite's own (two PostgreSQL servers on free ports on
 * 127.0.0.1, data in a temp folder), made with `pg_basebackup`. The standby streams through a
 * relay, the replication link, which can be slowed and cut. As root both run as `postgres`.
 */
export class ReplicatedPostgres {
  private constructor(
    private readonly folder: string,
    readonly primary: PostgresServer,
    readonly standby: PostgresServer,
    /** The standby's connection to the primary. */
    readonly link: TcpRelay,
  ) {}

  static async create({
    replication,
    linkLatencyMs = 0,
  }: ReplicatedPostgresOptions): Promise<ReplicatedPostgres> {
    const missing = BINARIES.filter((name) => !existsSync(join(BIN_DIR, name)));
    if (missing.length > 0) {
      throw new Error(
        `PostgreSQL server binaries missing in ${BIN_DIR}: ${missing.join(', ')}. The failover scenario ` +
          'runs a primary and a streaming standby of its own: install PostgreSQL 15 (Debian: apt-get ' +
          'install postgresql-15) or set POSTGRES_BIN_DIR to a folder holding initdb, postgres and pg_basebackup.',
      );
    }
    const user: { uid?: number; gid?: number } = userInfo().uid === 0 ? postgresUser() : {};
    const folder = mkdtempSync(join(tmpdir(), 'mailgateway-failover-pg-'));
    if (user.uid !== undefined) chownSync(folder, user.uid, user.gid!);
    const run = (name: (typeof BINARIES)[number], args: string[]) =>
      execFileSync(join(BIN_DIR, name), args, { ...user, stdio: 'pipe' });
    /** What to undo if the pair cannot be made. */
    const made: { stop(): Promise<void> }[] = [];
    try {
      const primaryDir = join(folder, 'primary');
      run('initdb', ['--pgdata', primaryDir, '--auth=trust', '--username=postgres', '--no-sync']);
      const primary = new PostgresServer('primary', primaryDir, await freePort(), user, [
        `synchronous_standby_names=${replication === 'synchronous' ? `FIRST 1 (${STANDBY_NAME})` : ''}`,
        'synchronous_commit=on',
      ]);
      made.push(primary);
      await primary.start();

      const standbyDir = join(folder, 'standby');
      mkdirSync(standbyDir, { mode: 0o700 });
      if (user.uid !== undefined) chownSync(standbyDir, user.uid, user.gid!);
      // -R writes standby.signal; the primary_conninfo it writes is replaced below by the link's.
      run('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        standbyDir,
        '-X',
        'stream',
        '-R',
      ]);
      const link = await TcpRelay.start(primary.port, { latencyMs: linkLatencyMs });
      made.push({ stop: () => link.close() });
      const standby = new PostgresServer('standby', standbyDir, await freePort(), user, [
        `primary_conninfo=host=127.0.0.1 port=${link.port} user=postgres application_name=${STANDBY_NAME}`,
        'hot_standby=on',
      ]);
      made.push(standby);
      await standby.start();
      const expected = replication === 'synchronous' ? 'sync' : 'async';
      await waitFor(
        `the standby to stream from the primary (${expected})`,
        async () => {
          const rows = await primary.query<{ sync_state: string }>(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
            [STANDBY_NAME],
          );
          return rows[0]?.sync_state === expected ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      return new ReplicatedPostgres(folder, primary, standby, link);
    } catch (error) {
      for (const each of made.reverse()) await each.stop();
      rmSync(folder, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * The primary's machine is lost: every process of the primary gets SIGKILL at once, and the
   * replication link is cut with it, so WAL still on its way to the standby never arrives.
   */
  async killPrimary(): Promise<void> {
    const killed = this.primary.killEveryProcess();
    this.link.cut();
    this.link.switchTo(null);
    await killed;
  }

  /** Resolves once the standby has replayed every WAL record it received. */
  async standbyCaughtUp(): Promise<void> {
    await waitFor(
      'the standby to replay all it received',
      async () => {
        const [{ caughtUp }] = await this.standby.query<{ caughtUp: boolean }>(
          'SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() AS "caughtUp"',
        );
        return caughtUp ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /** `pg_promote()`: the standby ends recovery (replaying all it received) and takes writes. */
  async promoteStandby(): Promise<void> {
    const [{ promoted }] = await this.standby.query<{ promoted: boolean }>(
      'SELECT pg_promote(true, 60) AS promoted',
    );
    if (!promoted) throw new Error(`the standby was not promoted. Its log:\n${this.standby.logTail}`);
    const [{ inRecovery }] = await this.standby.query<{ inRecovery: boolean }>(
      'SELECT pg_is_in_recovery() AS "inRecovery"',
    );
    if (inRecovery) throw new Error('the promoted standby is still in recovery');
  }

  async destroy(): Promise<void> {
    await this.link.close();
    await Promise.all([this.primary.stop(), this.standby.stop()]);
    rmSync(this.folder, { recursive: true, force: true });
  }
}

/** One PostgreSQL server on 127.0.0.1, its own process group, so all of it can be killed at once. */
export class PostgresServer {
  private server: ChildProcess | null = null;
  private log = '';

  constructor(
    readonly name: string,
    private readonly dataDir: string,
    readonly port: number,
    private readonly user: { uid?: number; gid?: number },
    private readonly settings: readonly string[],
  ) {}

  /** postgresql:// URL of the server's `postgres` database, straight to it (no relay). */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get logTail(): string {
    return this.log;
  }

  /** Starts the server (after a crash: crash recovery first) and resolves once it takes connections. */
  async start(): Promise<void> {
    const server = spawn(
      join(BIN_DIR, 'postgres'),
      [
        ...['-D', this.dataDir, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dataDir],
        ...this.settings.flatMap((setting) => ['-c', setting]),
      ],
      { ...this.user, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    server.stderr!.on(
      'data',
      (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-LOG_TAIL_CHARS)),
    );
    this.server = server;
    try {
      await waitFor(
        `PostgreSQL (${this.name}) to accept connections`,
        async () => {
          if (server.exitCode !== null) throw new Error(`it exited with code ${server.exitCode}`);
          return (await this.query('SELECT 1').then(
            () => true,
            () => undefined,
          ))
            ? true
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}. Its log:\n${this.log}`);
    }
  }

  async query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      return (await client.query(sql, parameters)).rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** SIGKILL to the postmaster and every backend of it at once (its process group). */
  async killEveryProcess(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    process.kill(-server.pid!, 'SIGKILL');
    await exited;
  }

  /** Immediate shutdown (SIGQUIT): the postmaster ends every backend and exits. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGQUIT');
    await exited;
  }
}

/** PostgreSQL refuses to run as root; as root its servers run as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}
