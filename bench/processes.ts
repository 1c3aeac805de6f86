import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { GATEWAY_MAIN } from './proto';

/** Children still running; a harness that fails part-way must not leave gateways behind. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A child process the harness started; resolves once it printed its readiness line. */
export class BenchProcess {
  private output = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  static async start(
    script: string,
    args: string[],
    env: Record<string, string>,
    ready: string,
  ): Promise<BenchProcess> {
    const child = fork(script, args, {
      env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    running.add(child);
    child.once('exit', () => running.delete(child));
    const started = new BenchProcess(child);
    const deadline = Date.now() + 30_000;
    while (!started.output.includes(ready)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${script} did not start:\n${started.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return started;
  }

  /** Peak resident memory of the process so far (VmHWM), in MiB. */
  peakRssMiB(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kib / 1024;
  }

  /** Current resident memory (VmRSS), in MiB. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  }

  /** CPU time the process has used so far (user and system), in seconds. */
  cpuSeconds(): number {
    // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 a second on Linux).
    const fields = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The key every benchmark gateway registers at start; callers send it as a real service would. */
export const BENCH_API_KEY = `mgw_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** Auth and rate limiting stay on, with limits far above what the harness can send. */
const GATEWAY_ENV = {
  LOG_LEVEL: 'log',
  METRICS_PORT: '0',
  BOOTSTRAP_API_KEY: BENCH_API_KEY,
  RATE_LIMIT_SOURCE_MESSAGES: '100000000',
  RATE_LIMIT_GLOBAL_MESSAGES: '1000000000',
};

export async function startGateway(env: Record<string, string>): Promise<BenchProcess> {
  return BenchProcess.start(GATEWAY_MAIN, [], { ...GATEWAY_ENV, ...env }, 'mailgateway listening on');
}

export async function runGatewayCommand(command: string, env: Record<string, string>): Promise<void> {
  const child = fork(GATEWAY_MAIN, [command], {
    env: { PATH: process.env.PATH, ...GATEWAY_ENV, ...env },
    stdio: 'ignore',
  });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`gateway ${command} exited with ${String(code)}`);
}

export function peerScript(name: string): string {
  return join(__dirname, 'peers', `${name}.js`);
}

/**
 * A TCP port free a moment ago, from below the kernel's ephemeral range so that no outgoing
 * connection takes it before the real bind (the same rule as libs/testing's freePort).
 */
export async function freePort(): Promise<number> {
  const ephemeralLow = Number(
    readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
  );
  const low = Math.max(1024, ephemeralLow - 16384);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port below ${ephemeralLow} after 200 tries`);
}
