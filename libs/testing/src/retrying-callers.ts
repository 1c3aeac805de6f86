import { setTimeout as sleep } from 'node:timers/promises';
import type { SendMailRequest, SendMailResponse } from '@mailgateway/contracts';
import { OutcomeLedger } from './outcome-ledger';

export interface RetryingCallersOptions {
  /** Idempotency keys to send; each is retried with the same key until it is acknowledged. */
  readonly keys: readonly string[];
  /** The request of one key; it must be the same on every call for that key. */
  readonly request: (key: string) => SendMailRequest;
  /** One call, without retries of its own: every attempt goes through the ledger. */
  readonly send: (request: SendMailRequest, caller: number) => Promise<SendMailResponse>;
  readonly ledger: OutcomeLedger;
  readonly callers: number;
  /** Pause before a key that was not acknowledged is tried again. */
  readonly retryDelayMs?: number;
  /** Pause of each caller between two calls, to spread the load over a run. */
  readonly pauseMs?: number;
  /** Give up on keys not acknowledged by then (the figures show them). */
  readonly deadline: number;
  /** Stops the callers early (e.g. once a scenario has what it needs). */
  readonly stop?: () => boolean;
}

/**
 * Callers as real clients behave: each takes the next key, sends it, and on anything but OK puts it
 * back to be sent again later with the same key. Resolves when every key is acknowledged, the
 * deadline passes, or `stop` says so.
 */
export async function sendUntilAcknowledged(options: RetryingCallersOptions): Promise<void> {
  const { keys, ledger, deadline, retryDelayMs = 50 } = options;
  const queue = keys.filter((key) => !ledger.isAcknowledged(key));
  await Promise.all(
    Array.from({ length: options.callers }, async (_, caller) => {
      while (Date.now() < deadline && !options.stop?.()) {
        const key = queue.shift();
        if (key === undefined) {
          // Another caller may still put a key back.
          if (keys.every((each) => ledger.isAcknowledged(each))) return;
          await sleep(retryDelayMs);
          continue;
        }
        try {
          await ledger.track(key, options.send(options.request(key), caller));
          if (options.pauseMs) await sleep(options.pauseMs);
        } catch {
          queue.push(key);
          await sleep(retryDelayMs);
        }
      }
    }),
  );
}
