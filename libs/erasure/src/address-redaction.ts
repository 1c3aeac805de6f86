/** Characters that may stand next to an address inside a longer one (RFC 5322 atext, dot, Unicode letters). */
const ADDRESS_CHAR = "[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~.-]";
const DOMAIN_CHAR = '[\\p{L}\\p{N}-]';

/**
 * One address to erase, and what stands for it: finds the address in stored text, whatever its
 * case, and replaces each occurrence with the hash. An occurrence counts only as a whole address,
 * so erasing bob@example.com leaves ann.bob@example.com and bob@example.com.au alone (a trailing
 * full stop, as at the end of a sentence, still ends the address).
 */
export class AddressRedaction {
  /** Lowercased. */
  readonly address: string;
  private readonly occurrences: RegExp;

  constructor(
    address: string,
    readonly hash: string,
  ) {
    this.address = address.trim().toLowerCase();
    const escaped = this.address.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    this.occurrences = new RegExp(
      `(?<!${ADDRESS_CHAR})${escaped}(?!${DOMAIN_CHAR}|\\.${DOMAIN_CHAR})`,
      'giu',
    );
  }

  /** The text with every occurrence of the address replaced by the hash. */
  redact(text: string): string {
    return text.replace(this.occurrences, this.hash);
  }

  /** Whether the text holds the address. */
  mentions(text: string | null): boolean {
    if (text === null) return false;
    this.occurrences.lastIndex = 0;
    return this.occurrences.test(text);
  }

  /**
   * A LIKE pattern (with ESCAPE '\') for lower(column) that finds every text holding the address,
   * and some that hold it only inside a longer one: redact() then decides.
   */
  likePattern(quoted = false): string {
    const escaped = this.address.replace(/[\\%_]/g, '\\$&');
    return quoted ? `%"${escaped}"%` : `%${escaped}%`;
  }
}
