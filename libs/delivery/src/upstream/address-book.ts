import { AddressHealth } from './address-health';

export interface AddressStatistics {
  readonly address: string;
  /** Requests sent to this address. */
  readonly requests: number;
  /** Connections it refused and requests that failed on it. */
  readonly failures: number;
  readonly healthy: boolean;
}

interface Entry {
  readonly health: AddressHealth;
  requests: number;
  failures: number;
}

/** The addresses of one upstream host, their health, and whose turn it is. */
export class AddressBook {
  private entries = new Map<string, Entry>();
  private order: string[] = [];
  private next = 0;

  constructor(
    private readonly cooldownMs: number,
    private readonly maxCooldownMs: number,
  ) {}

  get size(): number {
    return this.order.length;
  }

  /** Takes a new list of addresses; known ones keep their health and counts. */
  replace(addresses: readonly string[]): { added: string[]; removed: string[] } {
    const added = addresses.filter((address) => !this.entries.has(address));
    const removed = this.order.filter((address) => !addresses.includes(address));
    const entries = new Map<string, Entry>();
    for (const address of addresses) {
      entries.set(
        address,
        this.entries.get(address) ?? {
          health: new AddressHealth(this.cooldownMs, this.maxCooldownMs),
          requests: 0,
          failures: 0,
        },
      );
    }
    this.entries = entries;
    this.order = [...addresses];
    return { added, removed };
  }

  /**
   * The next address in turn that is healthy or due for a probe, skipping those already tried.
   * When every address is cooling down, the first pick is the one due soonest: a request is never
   * refused without a single connection attempt (one bad moment on each address would otherwise
   * fail every delivery until a cool-down ends, spending the messages' attempts for nothing).
   */
  pick(tried: ReadonlySet<string>, now: number): string | undefined {
    for (let step = 0; step < this.order.length; step++) {
      const address = this.order[(this.next + step) % this.order.length];
      if (tried.has(address) || !this.entries.get(address)!.health.admits(now)) continue;
      this.next = (this.next + step + 1) % this.order.length;
      return address;
    }
    if (tried.size > 0) return undefined;
    let soonest: string | undefined;
    for (const address of this.order) {
      const coolingUntil = this.entries.get(address)!.health.coolingUntil;
      if (soonest === undefined || coolingUntil < this.entries.get(soonest)!.health.coolingUntil) {
        soonest = address;
      }
    }
    return soonest;
  }

  has(address: string): boolean {
    return this.entries.has(address);
  }

  sent(address: string): void {
    const entry = this.entries.get(address);
    if (entry) entry.requests++;
  }

  isHealthy(address: string): boolean {
    return this.entries.get(address)?.health.healthy ?? true;
  }

  /** The address opened a connection or answered a request. */
  answered(address: string): void {
    this.entries.get(address)?.health.succeeded();
  }

  failed(address: string, now: number): void {
    const entry = this.entries.get(address);
    if (!entry) return;
    entry.failures++;
    entry.health.failed(now);
  }

  statistics(): AddressStatistics[] {
    return this.order.map((address) => {
      const { requests, failures, health } = this.entries.get(address)!;
      return { address, requests, failures, healthy: health.healthy };
    });
  }
}
