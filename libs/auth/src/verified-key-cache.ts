import { apiKeyMatches } from './api-key-format';
import { Principal } from './principal';

interface VerifiedKey {
  readonly keyHash: string;
  readonly principal: Principal;
  readonly until: number;
}

/**
 * API keys this process has looked up and found valid, by prefix. An entry holds the stored hash
 * (never the secret), so a hit still checks the presented key; it lives until the TTL or the key's
 * own expiry, whichever comes first. Bounded: the oldest entry makes room for a new one.
 */
export class VerifiedKeyCache {
  private readonly entries = new Map<string, VerifiedKey>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The principal of `key` if it was verified and its entry is still live; else undefined. */
  find(prefix: string, key: string, now: number): Principal | undefined {
    const entry = this.entries.get(prefix);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.entries.delete(prefix);
      return undefined;
    }
    return apiKeyMatches(key, entry.keyHash) ? entry.principal : undefined;
  }

  remember(
    prefix: string,
    keyHash: string,
    principal: Principal,
    expiresAt: number | null,
    now: number,
  ): void {
    const until = Math.min(now + this.ttlMs, expiresAt ?? Infinity);
    if (until <= now) return;
    this.entries.delete(prefix);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(prefix, { keyHash, principal, until });
  }

  forget(prefix: string): void {
    this.entries.delete(prefix);
  }
}
