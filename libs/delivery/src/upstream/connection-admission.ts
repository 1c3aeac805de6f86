import type { ConnectionSlots } from './connection-slots';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';

interface Waiter {
  readonly resolve: (done: () => void) => void;
  readonly reject: (error: unknown) => void;
  cleanup(): void;
}

/**
 * Lets a request into one origin's connection pool only when a connection can carry it: one that
 * is open (or opening) and free, or a slot taken for it beforehand. The pool hands each request to
 * one of its connections, and a connection waiting for a slot keeps its request however long the
 * wait, while other connections go idle; so requests wait here, in arrival order, and never in a
 * connection that may not open. A wait is bounded (UPSTREAM_BUDGET_MAX_WAIT_MS), so a delivery
 * never outlives its claim waiting for the budget: past the bound it is retried later.
 */
export class ConnectionAdmission {
  private inFlight = 0;
  /** Slots held by sockets of this pool, open or opening. */
  private sockets = 0;
  /** Slots taken for admitted requests whose connection has not asked for one yet. */
  private readonly spare: (() => void)[] = [];
  private readonly pending: AbortController[] = [];
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly slots: ConnectionSlots,
    private readonly hostname: string,
    private readonly maxWaitMs: number,
  ) {}

  /** Resolves once the request may go to the pool; call the function it gives when the request ends. */
  admit(signal?: AbortSignal): Promise<() => void> {
    if (this.waiting.length === 0 && this.inFlight < this.capacity) return Promise.resolve(this.enter());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, cleanup: () => undefined };
      const timer = setTimeout(
        () =>
          this.giveUp(
            waiter,
            new UpstreamUnavailableException(
              `${this.hostname}: no connection within the upstream's budget came free in ${this.maxWaitMs} ms`,
            ),
          ),
        this.maxWaitMs,
      );
      const onAbort = () => this.giveUp(waiter, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.waiting.push(waiter);
      this.reserve();
    });
  }

  /** For the pool's connector: the slot a new socket holds until it closes. */
  async connectionSlot(): Promise<() => void> {
    const release = this.spare.pop() ?? (await this.slotWithinBound());
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

  private enter(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.admitWaiting();
      this.trim();
    };
  }

  /** Asks for as many slots as waiting requests need beyond what the pool can carry. */
  private reserve(): void {
    const needed = Math.min(this.waiting.length, this.inFlight + this.waiting.length - this.capacity);
    while (this.pending.length < needed) {
      const asking = new AbortController();
      this.pending.push(asking);
      this.slots.acquire(asking.signal).then(
        (release) => {
          this.forget(asking);
          this.spare.push(release);
          this.admitWaiting();
          this.trim();
        },
        (error: unknown) => {
          this.forget(asking);
          if (!asking.signal.aborted) this.refuseWaiting(error);
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
    const needed = Math.min(this.waiting.length, this.inFlight + this.waiting.length - this.capacity);
    while (this.pending.length > Math.max(0, needed)) this.pending.pop()!.abort();
  }

  private giveUp(waiter: Waiter, error: unknown): void {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return;
    this.waiting.splice(index, 1);
    waiter.cleanup();
    waiter.reject(error);
    this.trim();
  }

  private refuseWaiting(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    for (const waiter of this.waiting.splice(0)) {
      waiter.cleanup();
      waiter.reject(new UpstreamUnavailableException(`${this.hostname}: ${reason}`));
    }
  }

  private forget(asking: AbortController): void {
    const index = this.pending.indexOf(asking);
    if (index >= 0) this.pending.splice(index, 1);
  }

  /**
   * A connection the pool opens beyond the slots taken for it (it reconnects a client while
   * another connection is idle) waits for a slot, but no longer than a request would.
   */
  private slotWithinBound(): Promise<() => void> {
    return this.slots.acquire(AbortSignal.timeout(this.maxWaitMs)).catch((error: unknown) => {
      throw (error as Error)?.name === 'TimeoutError'
        ? new Error(`no connection within the upstream's budget came free in ${this.maxWaitMs} ms`)
        : error;
    });
  }
}
