/**
 * How the list finds entries of erased addresses: an erased address's entries are kept under its
 * keyed hash ("h:" and 64 hex digits), so every lookup asks for each address and its hash in the
 * same statement. Bound by the app to the gateway's AddressHasher; without one, only plain entries
 * match.
 */
export interface ErasedAddressHash {
  hash(address: string): string;
  /** Whether a stored address is such a hash rather than an address. */
  isHash(text: string): boolean;
}

/** DI token of the ErasedAddressHash the SuppressionList uses. */
export const ERASED_ADDRESS_HASH = Symbol('ERASED_ADDRESS_HASH');
