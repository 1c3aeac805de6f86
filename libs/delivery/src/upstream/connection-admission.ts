import type { ConnectionSlots } from './connection-slots';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';

/**
 * The reason an ask for a slot is withdrawn. One object for all: on a busy pool asks are withdrawn
 * about once per request, and abort() without a reason builds a DOMException, stack and all, each time.
 */
const NO_LONGER_NEEDED = new Error('no request waits for this slot any more');

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  cleanup(): void;
}

/**
 * Lets a request into one origin's connection pool only when a connection can carry it: one that
 * is open and free, or a slot taken for a new one beforehand. The pool hands each request to one of
 * its connections, and a connection waiting for a slot keeps its request however long the wait,
 * while other connections go idle; so requests wait here, in arrival order, rather than in a
 * connection that may not open.
 *
 * The pool may still open a connection beyond the slots taken for it (it replaces a connection it
 * retired, or reconnects one client while another is idle). Such a connection already carries a
 * request, so it gets the next slot before any waiting request does.
 *
 * Every wait is bounded (UPSTREAM_BUDGET_MAX_WAIT_MS), so a delivery never outlives its claim
 * waiting for the budget: past the bound it fails as "unavailable" and is retried later.
 */
export class ConnectionAdmission {
  private inFlight = 0;
  /** Slots held by sockets of this pool, open or opening. */
  private sockets = 0;
  /** Slots taken for admitted requests whose connection has not asked for one yet. */
  private readonly spare: (() => void)[] = [];
  /** Slots being asked for. */
  private readonly pending: AbortController[] = [];
  /** Connections the pool is opening with no slot for them yet. */
  private readonly parked: Waiter<() => void>[] = [];
  private readonly waiting: Waiter<() => void>[] = [];

  constructor(
    private readonly slots: ConnectionSlots,
    private readonly hostname: string,
    private readonly maxWaitMs: number,
  ) {}

  /** Resolves once the request may go to the pool; call the function it gives when the request ends. */
  admit(signal?: AbortSignal): Promise<() => void> {
    if (this.waiting.length === 0 && this.inFlight < this.capacity) return Promise.resolve(this.enter());
    return this.wait(
      this.waiting,
      () =>
        new UpstreamUnavailableException(
          `${this.hostname}: no connection within the upstream's budget came free in ${this.maxWaitMs} ms`,
        ),
      signal,
    );
  }

  /** For the pool's connector: the slot a new socket holds; call the function it gives when it closes. */
  async connectionSlot(): Promise<() => void> {
    // Its failure fails the connection, and the pool's error names the host.
    const timedOut = () =>
      new Error(`no slot within the upstream's budget came free in ${this.maxWaitMs} ms`);
    const release = this.spare.pop() ?? (await this.wait(this.parked, timedOut));
    this.sockets++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.sockets--;
      release();
      this.reserve();
    };
  }

  private get capacity(): number {
    return this.sockets + this.spare.length;
  }

  private wait<T>(queue: Waiter<T>[], timedOut: () => Error, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, cleanup: () => undefined };
      const timer = setTimeout(() => this.giveUp(queue, waiter, timedOut()), this.maxWaitMs);
      const onAbort = () => this.giveUp(queue, waiter, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      queue.push(waiter);
      this.reserve();
    });
  }

  private enter(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      // The pool marks the connection free only once the response has been handled: the next
      // request goes in after that, so it finds the connection free instead of opening another.
      setImmediate(() => {
        this.inFlight--;
        this.admitWaiting();
        this.trim();
      });
    };
  }

  /** Slots still to ask for: every parked connection's, and those waiting requests need. */
  private get needed(): number {
    const uncovered = this.inFlight + this.waiting.length - this.capacity;
    return Math.max(this.parked.length, Math.min(this.waiting.length + this.parked.length, uncovered));
  }

  private reserve(): void {
    while (this.pending.length < this.needed) {
      const asking = new AbortController();
      this.pending.push(asking);
      this.slots.acquire(asking.signal).then(
        (release) => {
          this.forget(asking);
          const connection = this.parked.shift();
          if (connection) {
            connection.cleanup();
            connection.resolve(release);
            return;
          }
          this.spare.push(release);
          this.admitWaiting();
          this.trim();
        },
        (error: unknown) => {
          this.forget(asking);
          if (!asking.signal.aborted) this.refuseAll(error);
        },
      );
    }
  }

  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.inFlight < this.capacity) {
      const waiter = this.waiting.shift()!;
      waiter.cleanup();
      waiter.resolve(this.enter());
    }
  }

  /** Gives back slots no request needs any more, and stops asking for them. */
  private trim(): void {
    const unconnected = Math.max(0, this.inFlight + this.waiting.length - this.sockets);
    while (this.spare.length > unconnected) this.spare.pop()!();
    while (this.pending.length > Math.max(0, this.needed)) this.pending.pop()!.abort(NO_LONGER_NEEDED);
  }

  private giveUp<T>(queue: Waiter<T>[], waiter: Waiter<T>, error: unknown): void {
    const index = queue.indexOf(waiter);
    if (index < 0) return;
    queue.splice(index, 1);
    waiter.cleanup();
    waiter.reject(error);
    this.trim();
  }

  private refuseAll(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    for (const waiter of [...this.parked.splice(0), ...this.waiting.splice(0)]) {
      waiter.cleanup();
      waiter.reject(new UpstreamUnavailableException(`${this.hostname}: ${reason}`));
    }
  }

  private forget(asking: AbortController): void {
    const index = this.pending.indexOf(asking);
    if (index >= 0) this.pending.splice(index, 1);
  }
}
