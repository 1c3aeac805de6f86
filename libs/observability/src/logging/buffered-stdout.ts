import pino from 'pino';

export type BufferedStdout = ReturnType<typeof pino.destination>;

/** Written once this much is waiting, or at the interval, whichever comes first. */
export const STDOUT_BATCH_BYTES = 4096;
export const STDOUT_FLUSH_INTERVAL_MS = 100;

let stdout: BufferedStdout | undefined;

/**
 * The process's stdout as one log destination: lines are collected and written in batches, one
 * write(2) per few KiB instead of one per line. Still written with writeSync (`sync: true`), not
 * pino's `sync: false`: that one queues its writes on libuv's thread pool, and a write still
 * queued at exit can land after the exit flush or not at all. Here nothing is ever in flight, so
 * the flush on 'exit' (process.exit, an uncaught exception, an empty event loop) writes whatever
 * is left, in order. A SIGKILL (or a signal with no handler) loses what is waiting: under
 * STDOUT_BATCH_BYTES, from the last STDOUT_FLUSH_INTERVAL_MS. One instance, so lines from every
 * logger keep their order.
 */
export function bufferedStdout(): BufferedStdout {
  if (stdout) return stdout;
  const destination = pino.destination({
    dest: 1,
    sync: true,
    minLength: STDOUT_BATCH_BYTES,
    periodicFlush: STDOUT_FLUSH_INTERVAL_MS,
  });
  process.on('exit', () => destination.flushSync());
  stdout = destination;
  return destination;
}
