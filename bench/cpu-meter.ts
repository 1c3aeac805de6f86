// CPU per call: what one process (the server under load) and the local PostgreSQL used over a
// run, from /proc, divided by the calls (or messages) the run completed.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface CpuPerCall {
  readonly serverUsPerCall: number;
  /** Undefined when no PostgreSQL process is visible on this machine (a remote server). */
  readonly postgresUsPerCall?: number;
  /**
   * Only the backends connected to the run's own database and still there at its end (one that
   * connected during the run counts in full): what the subject's statements cost, without
   * background workers or other clients of the server.
   */
  readonly databaseBackendsUsPerCall?: number;
}

/** The stat fields after the command name: utime, stime, cutime, cstime are 11..14 of these. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return undefined; // gone between the listing and the read
  }
}

function processTicks(pid: number): number {
  const fields = statFields(pid);
  if (!fields) throw new Error(`process ${pid} is gone`);
  return Number(fields[11]) + Number(fields[12]);
}

/** A backend's title: `postgres: [cluster: ]user database host(port) state`. */
const BACKEND_TITLE = /^postgres: (?:[^ ]+: )?[^ ]+ ([^ ]+) /;

interface PostgresTicks {
  /** Undefined when no process named postgres is visible. */
  readonly all: number | undefined;
  /** By pid, the backends connected to the database asked for. */
  readonly backends: Map<string, number>;
}

/**
 * Every process named `postgres` on this machine: backends, background workers and the
 * postmaster, whose waited-for children's times (cutime, cstime) keep the CPU of backends that
 * exited during the run; and apart, the backends of `database`.
 */
function postgresTicks(database: string | undefined): PostgresTicks {
  let all: number | undefined;
  const backends = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let name: string;
    try {
      name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name !== 'postgres') continue;
    const fields = statFields(entry);
    if (!fields) continue;
    const own = Number(fields[11]) + Number(fields[12]);
    all = (all ?? 0) + own + Number(fields[13]) + Number(fields[14]);
    if (database && BACKEND_TITLE.exec(readTitle(entry))?.[1] === database) backends.set(entry, own);
  }
  return { all, backends };
}

function readTitle(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Started at the run's start; `perCall` at its end, while the server still runs. `databaseUrl`:
 * the database the run writes, whose backends are also counted apart.
 */
export class CpuMeter {
  private readonly serverStart: number;
  private readonly database: string | undefined;
  private readonly postgresStart: PostgresTicks;

  constructor(
    private readonly serverPid: number,
    databaseUrl?: string,
  ) {
    this.database = databaseUrl ? new URL(databaseUrl).pathname.slice(1) : undefined;
    this.serverStart = processTicks(serverPid);
    this.postgresStart = postgresTicks(this.database);
  }

  perCall(calls: number): CpuPerCall {
    const server = processTicks(this.serverPid) - this.serverStart;
    const postgresEnd = postgresTicks(this.database);
    const perCall = (ticks: number) => (ticks / CLOCK_TICKS / Math.max(1, calls)) * 1e6;
    const start = this.postgresStart;
    let backends = 0;
    for (const [pid, ticks] of postgresEnd.backends) backends += ticks - (start.backends.get(pid) ?? 0);
    return {
      serverUsPerCall: perCall(server),
      postgresUsPerCall:
        start.all === undefined || postgresEnd.all === undefined
          ? undefined
          : perCall(postgresEnd.all - start.all),
      databaseBackendsUsPerCall: this.database ? perCall(backends) : undefined,
    };
  }
}

/** "CPU per call: server 123 µs, PostgreSQL 45 µs (its database's backends 30 µs)" for a row's detail. */
export function describeCpu(cpu: CpuPerCall, what = 'call', server = 'server'): string {
  const postgres =
    cpu.postgresUsPerCall === undefined ? 'not visible' : `${cpu.postgresUsPerCall.toFixed(0)} µs`;
  const backends =
    cpu.databaseBackendsUsPerCall === undefined
      ? ''
      : ` (its database's backends ${cpu.databaseBackendsUsPerCall.toFixed(0)} µs)`;
  return `CPU per ${what}: ${server} ${cpu.serverUsPerCall.toFixed(0)} µs, PostgreSQL ${postgres}${backends}`;
}
