import type { ClaimedMessage, SuppressedRecipient } from '@mailgateway/outbox';

/** A claimed message waiting for a delivery slot, with what the suppression list said at its claim. */
export interface ReadyClaim {
  readonly claim: ClaimedMessage;
  /** Its recipients on the list when it was claimed, or why the list could not be read then. */
  readonly suppressed: readonly SuppressedRecipient[] | { readonly unread: string };
}

/**
 * Claims taken ahead of free slots, oldest first. One starts only while at least half its lease
 * is left, so its attempt has that long before another process may take the message; an older
 * one is given back unsent. How many may wait follows how many this process started in the last
 * quarter of a lease (at least `floor`, at most `capacity`), so a slow upstream does not leave
 * claims waiting until their leases run out. A refill is due once half of that has started.
 */
export class ReadyQueue {
  private readonly waiting: ReadyClaim[] = [];
  private readonly windowMs: number;
  private windowStartedAt: number;
  private startedThisWindow = 0;
  private startedLastWindow = 0;

  constructor(
    private readonly capacity: number,
    private readonly floor: number,
    private readonly leaseMs: number,
    now = Date.now(),
  ) {
    this.windowMs = leaseMs / 4;
    this.windowStartedAt = now;
  }

  get length(): number {
    return this.waiting.length;
  }

  push(claims: readonly ReadyClaim[]): void {
    this.waiting.push(...claims);
  }

  /** How many to claim now: none while more than half of what may wait still waits. */
  wanted(now: number): number {
    this.roll(now);
    const started = Math.max(this.startedThisWindow, this.startedLastWindow);
    const limit = Math.min(this.capacity, Math.max(this.floor, started));
    return this.waiting.length * 2 > limit ? 0 : limit - this.waiting.length;
  }

  /** The next claim to start, if any, and the older ones that may no longer start (to hand back). */
  next(now: number): { start?: ReadyClaim; stale: ClaimedMessage[] } {
    const stale: ClaimedMessage[] = [];
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      if (next.claim.leasedUntil - now <= this.leaseMs / 2) {
        stale.push(next.claim);
        continue;
      }
      this.roll(now);
      this.startedThisWindow++;
      return { start: next, stale };
    }
    return { stale };
  }

  /** Everything still waiting, taken out (the process is stopping, or the outbox failed). */
  drain(): ClaimedMessage[] {
    return this.waiting.splice(0).map(({ claim }) => claim);
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStartedAt;
    if (elapsed < this.windowMs) return;
    this.startedLastWindow = elapsed < 2 * this.windowMs ? this.startedThisWindow : 0;
    this.startedThisWindow = 0;
    this.windowStartedAt = now;
  }
}
