/**
 * How the list finds entries of erased addresses: an erased address's entries are kept under its
 * keyed hash ("h:" and 64 hex digits), so every lookup asks for each address and its hash in the
 * same statement. Bound by the app to the gateway's AddressHasher; without one, only plain entries
 * match.
 */
export interface ErasedAddressHash {
  hash(address: string): string;
}

/** DI token of the ErasedAddressHash the SuppressionList uses. */
export const ERASED_ADDRESS_HASH = Symbol('ERASED_ADDRESS_HASH');

/**
 * Whether an address as stored is an erased address's hash rather than an address: the form
 * described above, which the gateway's AddressHasher gives.
 */
export function isErasedAddressHash(address: string): boolean {
  return ERASED_HASH_FORM.test(address);
}

const ERASED_HASH_FORM = /^h:[0-9a-f]{64}$/;
