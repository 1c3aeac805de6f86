import type { EmailAddress } from '@mailgateway/contracts';

// RFC 5322 §3.2.3 atext plus the spaces between atoms: a display name made only of these may stay bare.
const BARE_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+( [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

/**
 * One mailbox as `Name <address>` for APIs that take address strings. Names with specials
 * (`,` `"` `<` `.` `@` ...), non-ASCII letters or odd spacing become a quoted-string with `\` and `"`
 * escaped, so a comma in a name cannot split one recipient into two.
 */
export function formatMailbox({ address, name }: EmailAddress): string {
  // The validator refuses line breaks; folding them here keeps a header from ever being split.
  const displayName = name.replace(/[\r\n]+/g, ' ');
  if (displayName === '') return address;
  if (BARE_PHRASE.test(displayName)) return `${displayName} <${address}>`;
  return `"${displayName.replace(/["\\]/g, '\\$&')}" <${address}>`;
}
