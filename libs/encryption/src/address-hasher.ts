import { createHmac } from 'node:crypto';

/** What stands in for an erased address: "h:" and 64 hex digits, never an email address. */
export const ADDRESS_HASH_PATTERN = /^h:[0-9a-f]{64}$/;

/**
 * The keyed hash that replaces an erased address in what is kept. Keyed, so a dump cannot be
 * searched for a guessed address without the key; stable across content-key rotations, so a
 * hashed suppression keeps matching the address it came from.
 */
export class AddressHasher {
  constructor(private readonly key: Buffer) {}

  hash(address: string): string {
    return `h:${createHmac('sha256', this.key).update(address.trim().toLowerCase()).digest('hex')}`;
  }

  /** Whether a stored address is such a hash rather than an address. */
  isHash(text: string): boolean {
    return ADDRESS_HASH_PATTERN.test(text);
  }
}
