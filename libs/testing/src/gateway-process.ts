import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_AUTH_ENV } from './test-credentials';
import { waitFor } from './wait-for';

const GATEWAY_MAIN = join(__dirname, '../../../dist/apps/gateway/apps/gateway/src/main.js');

/** Where and as whom a gateway build other than this tree's runs (e.g. a replayed image). */
export interface GatewayInstall {
  /** The gateway's main script. */
  readonly main?: string;
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
}

/** The built gateway as a child process: what Kubernetes runs, killable with any signal. */
export class GatewayProcess {
  private output = '';
  private hasEnded = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.hasEnded = true;
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Starts `main.js [command]` with exactly `env` (plus PATH and the test API key) and no wait.
   * Metrics listen on any free port unless `env` names one (see metricsUrl). `install` runs another
   * build of the gateway (its `main` script, from its folder, as another user) instead of this tree's.
   */
  static spawn(
    env: Readonly<Record<string, string>>,
    command?: string,
    install: GatewayInstall = {},
  ): GatewayProcess {
    const main = install.main ?? GATEWAY_MAIN;
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
    const child = spawn(process.execPath, [main, ...(command ? [command] : [])], {
      env: { PATH: process.env.PATH, NO_COLOR: '1', METRICS_PORT: '0', ...TEST_AUTH_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: install.cwd,
      uid: install.uid,
      gid: install.gid,
    });
    return new GatewayProcess(child);
  }

  /** Starts the gateway and resolves once it listens. */
  static async start(
    env: Readonly<Record<string, string>>,
    install: GatewayInstall = {},
  ): Promise<GatewayProcess> {
    const gateway = GatewayProcess.spawn(env, undefined, install);
    try {
      await waitFor('the gateway to listen', () => {
        if (gateway.hasExited) throw new Error('it exited');
        return gateway.output.includes('mailgateway listening on') ? true : undefined;
      });
    } catch (error) {
      gateway.kill('SIGKILL');
      throw new Error(
        `The gateway did not start (${(error as Error).message}). Its output:\n${gateway.output}`,
      );
    }
    return gateway;
  }

  /** Whether the process has exited (or was killed), by now. */
  get hasExited(): boolean {
    return this.hasEnded;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Everything the process wrote to stdout and stderr, as written (JSON lines). */
  get logs(): string {
    return this.output;
  }

  /** The log lines parsed; lines that are not JSON come back as `{ msg: line }`. */
  get logLines(): Record<string, unknown>[] {
    return this.output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return { msg: line };
        }
      });
  }

  /** The `msg` of every log line, one a line: what a person reads. */
  get messages(): string {
    return this.logLines.map((line) => String(line.msg ?? '')).join('\n');
  }

  /** Base URL of /metrics, /livez and /readyz, from the gateway's start-up line. */
  get metricsUrl(): string {
    const match = /metrics and probes on (http:\/\/[^\s]+) /.exec(this.messages);
    if (!match)
      throw new Error(`the gateway has not announced its metrics port. Its output:\n${this.output}`);
    return match[1];
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGKILL and wait: a crash, as far as the gateway can tell. */
  async crash(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
