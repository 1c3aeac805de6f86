import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** A sample error, to tell a broken run from a slow one. */
  readonly firstError?: string;
}

type Call = () => Promise<unknown>;

/** As fast as it goes: `concurrency` callers, each sending its next call when the last returns. */
export async function closedLoop(
  call: Call,
  { concurrency, durationMs }: { concurrency: number; durationMs: number },
) {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const until = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        try {
          await call();
          latencies.push(performance.now() - sent);
        } catch (error) {
          errors++;
          firstError ??= String((error as Error).message ?? error);
        }
      }
    }),
  );
  return summarize(latencies, errors, (performance.now() - started) / 1000, firstError);
}

/**
 * A fixed arrival rate, whatever the server does: latency counts from when each call was due, not
 * from when it went out, so a server that falls behind shows its queueing (no coordinated omission).
 * `record`, when given, hears of every call: when it was due (ms after the loop started) and its
 * latency, or undefined when it failed.
 */
export async function openLoop(
  call: Call,
  {
    ratePerSecond,
    durationMs,
    record,
  }: {
    ratePerSecond: number;
    durationMs: number;
    record?: (dueMs: number, latencyMs: number | undefined) => void;
  },
) {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const total = Math.floor((ratePerSecond * durationMs) / 1000);
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < total; index++) {
    const due = started + (index * 1000) / ratePerSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      call().then(
        () => {
          const latency = performance.now() - due;
          latencies.push(latency);
          record?.(due - started, latency);
        },
        (error: unknown) => {
          errors++;
          record?.(due - started, undefined);
          firstError ??= String((error as Error).message ?? error);
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return summarize(latencies, errors, (performance.now() - started) / 1000, firstError);
}

export function summarize(
  latencies: number[],
  errors: number,
  seconds: number,
  firstError?: string,
): LoadResult {
  latencies.sort((a, b) => a - b);
  const at = (quantile: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(quantile * latencies.length))] ?? 0;
  return {
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    firstError,
  };
}
