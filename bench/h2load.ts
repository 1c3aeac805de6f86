import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadResult, summarize } from './load-generator';

/**
 * An open loop from `h2load` (Debian's nghttp2-client), a C client whose own pauses stay out of
 * the measured latency: the harness's grpc-js client pauses for its garbage collection, and
 * every call in flight then looks slow.
 */
export function h2loadInstalled(): boolean {
  return spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** One message as a gRPC request body: the uncompressed flag and its length, then the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * h2load's `--rps` sends on a timer that fires at most every 10 ms, so one connection above
 * 100 requests a second sends in bursts. The load is split over connections below that, each an
 * h2load of its own at a slightly different rate, so that their ticks drift apart and arrivals
 * spread over time instead of lining up.
 */
export function connectionRates(ratePerSecond: number): number[] {
  const connections = Math.ceil(ratePerSecond / 90);
  const spread = Array.from({ length: connections }, (_, index) =>
    connections === 1 ? 1 : 0.9 + (0.2 * index) / (connections - 1),
  );
  const sum = spread.reduce((total, weight) => total + weight, 0);
  return spread.map((weight) => (ratePerSecond * weight) / sum);
}

/** h2load's `--log-file`: per request, its start (µs since the epoch), HTTP status and µs taken. */
export function parseRequestLog(text: string): { startUs: number; status: number; latencyMs: number }[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [startUs, status, micros] = line.split('\t').map(Number);
      return { startUs, status, latencyMs: micros / 1000 };
    });
}

/**
 * Unary calls of one prebuilt request at `ratePerSecond` for `durationMs`. Latency counts from
 * each request's start, as h2load logs it. h2load sees HTTP statuses only, not gRPC's (those come
 * in trailers): a caller that must know every call succeeded counts what the server stored.
 */
export async function h2loadOpenLoop({
  url,
  headers,
  body,
  ratePerSecond,
  durationMs,
}: {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  ratePerSecond: number;
  durationMs: number;
}): Promise<LoadResult & { connections: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailgateway-bench-h2load-'));
  try {
    const bodyFile = join(dir, 'request.bin');
    await writeFile(bodyFile, body);
    const rates = connectionRates(ratePerSecond);
    const logs = await Promise.all(
      rates.map(async (rate, index) => {
        const log = join(dir, `requests-${index}.tsv`);
        const args = [
          ...['--clients', '1', '--max-concurrent-streams', '1000'],
          ...[
            '--rps',
            rate.toFixed(3),
            '--requests',
            String(Math.max(1, Math.round((rate * durationMs) / 1000))),
          ],
          ...['--data', bodyFile, '--log-file', log],
          ...Object.entries(headers).flatMap(([name, value]) => ['--header', `${name}: ${value}`]),
          url,
        ];
        await run('h2load', args);
        return parseRequestLog(await readFile(log, 'utf8'));
      }),
    );
    const requests = logs.flat();
    const failed = requests.filter((request) => request.status !== 200);
    const starts = requests.map((request) => request.startUs);
    const seconds =
      requests.length > 1 ? (Math.max(...starts) - Math.min(...starts)) / 1e6 : durationMs / 1000;
    return {
      ...summarize(
        requests.filter((request) => request.status === 200).map((request) => request.latencyMs),
        failed.length,
        seconds,
        failed.length > 0 ? `HTTP ${failed[0].status}` : undefined,
      ),
      connections: rates.length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${command} exited with ${String(code)}: ${errors}`);
}
