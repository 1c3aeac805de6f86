import { AddressRedaction } from './address-redaction';

const HASH = `h:${'a'.repeat(64)}`;

describe(AddressRedaction.name, () => {
  const sut = new AddressRedaction(' Bob@Example.COM ', HASH);

  it.each([
    ['550 5.1.1 <bob@example.com>: no such user', `550 5.1.1 <${HASH}>: no such user`],
    ['BOB@EXAMPLE.COM and Bob@example.com', `${HASH} and ${HASH}`],
    ['{"to":"bob@example.com"}', `{"to":"${HASH}"}`],
    ['sent to bob@example.com.', `sent to ${HASH}.`],
    ['mailto:bob@example.com,ann@example.com', `mailto:${HASH},ann@example.com`],
  ])('replaces the address in %j, whatever its case', (text, redacted) => {
    expect(sut.redact(text)).toBe(redacted);
    expect(sut.mentions(text)).toBe(true);
  });

  it.each([
    'ann.bob@example.com',
    'x+bob@example.com',
    'bob@example.com.au',
    'bob@example.community',
    'bob@example-com.org',
    'bobby@example.com',
  ])('leaves another address alone: %s', (text) => {
    expect(sut.redact(text)).toBe(text);
    expect(sut.mentions(text)).toBe(false);
  });

  it('escapes what LIKE and regular expressions would read as patterns', () => {
    const odd = new AddressRedaction('a_b%c+d@ex.com', HASH);
    expect(odd.likePattern()).toBe('%a\\_b\\%c+d@ex.com%');
    expect(odd.likePattern(true)).toBe('%"a\\_b\\%c+d@ex.com"%');
    expect(odd.redact('a_b%c+d@ex.com axb%c+d@ex.com a_b%cd@ex.com')).toBe(
      `${HASH} axb%c+d@ex.com a_b%cd@ex.com`,
    );
  });

  it('says whether a text names the address, again and again (no state kept between calls)', () => {
    expect([sut.mentions('bob@example.com'), sut.mentions('bob@example.com'), sut.mentions(null)]).toEqual([
      true,
      true,
      false,
    ]);
  });
});
