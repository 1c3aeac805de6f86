import { hash } from 'node:crypto';

/** About 1% false positives while a filter holds no more than its capacity. */
const BITS_PER_ENTRY = 10;
const PROBES = 7;
const DIGEST = /^[0-9a-f]{16}$/;

/**
 * What the filter (and the NOTIFY between replicas) knows an address by: 64 bits of its SHA-256
 * in hex, so neither holds the address itself. The one-shot hash: about half the cost of a Hash
 * object, and it runs for every recipient at accept.
 */
export function addressDigest(address: string): string {
  return hash('sha256', address, 'hex').slice(0, 16);
}

export function isAddressDigest(text: string): boolean {
  return DIGEST.test(text);
}

/**
 * A Bloom filter of address digests: "not in it" is certain, "maybe" is asked of the table. Entries
 * cannot be taken out; the owner builds a new filter instead.
 */
export class AddressFilter {
  private readonly bits: Uint32Array;
  private readonly size: number;
  private added = 0;

  constructor(readonly capacity: number) {
    this.size = Math.max(1, Math.ceil((capacity * BITS_PER_ENTRY) / 32)) * 32;
    this.bits = new Uint32Array(this.size / 32);
  }

  /** Digests added, repeats included. */
  get entries(): number {
    return this.added;
  }

  add(digest: string): void {
    for (const bit of this.positions(digest)) this.bits[bit >>> 5] |= 1 << (bit & 31);
    this.added += 1;
  }

  mayContain(digest: string): boolean {
    for (const bit of this.positions(digest)) {
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Double hashing: probe i at h1 + i·h2, from the digest's two 32-bit halves. */
  private positions(digest: string): number[] {
    const h1 = parseInt(digest.slice(0, 8), 16);
    const h2 = (parseInt(digest.slice(8, 16), 16) | 1) >>> 0;
    const positions = new Array<number>(PROBES);
    for (let probe = 0; probe < PROBES; probe += 1) positions[probe] = (h1 + probe * h2) % this.size;
    return positions;
  }
}
