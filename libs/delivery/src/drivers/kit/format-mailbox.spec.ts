// RFC 5322 §3.2.3 (atext), §3.2.4 (quoted-string) and §3.4 (name-addr):
// https://www.rfc-editor.org/rfc/rfc5322#section-3.4. Postmark asks for quoted names with
// punctuation: https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean
import { formatMailbox } from './format-mailbox';

describe(formatMailbox.name, () => {
  it.each([
    ['', 'ada@example.org'],
    ['Ada Lovelace', 'Ada Lovelace <ada@example.org>'],
    ["O'Brien-Smith", "O'Brien-Smith <ada@example.org>"],
    ['Lovelace, Ada', '"Lovelace, Ada" <ada@example.org>'],
    ['Ada "Countess" Lovelace', '"Ada \\"Countess\\" Lovelace" <ada@example.org>'],
    ['Back\\slash', '"Back\\\\slash" <ada@example.org>'],
    ['<ada@evil.example>', '"<ada@evil.example>" <ada@example.org>'],
    ['Ada L. Lovelace', '"Ada L. Lovelace" <ada@example.org>'],
    ['Ada (work)', '"Ada (work)" <ada@example.org>'],
    ['Zoë', '"Zoë" <ada@example.org>'],
    ['Two  spaces', '"Two  spaces" <ada@example.org>'],
    ['Line\r\nBreak', 'Line Break <ada@example.org>'],
  ])('formats the name %j', (name, expected) => {
    expect(formatMailbox({ address: 'ada@example.org', name })).toBe(expected);
  });
});
