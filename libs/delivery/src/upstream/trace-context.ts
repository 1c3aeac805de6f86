import { AsyncLocalStorage } from 'node:async_hooks';

const traceparents = new AsyncLocalStorage<string>();

/** Runs a delivery attempt so every upstream request it makes carries the message's trace context. */
export function withTraceparent<T>(traceparent: string | null, work: () => Promise<T>): Promise<T> {
  return traceparent ? traceparents.run(traceparent, work) : work();
}

/** The W3C traceparent of the delivery attempt in progress, if it was traced. */
export function currentTraceparent(): string | undefined {
  return traceparents.getStore();
}
