import { AddressBook } from './address-book';

describe(AddressBook.name, () => {
  const now = 1_000_000;

  it('takes healthy addresses in turn and skips those cooling down or already tried', () => {
    const sut = new AddressBook(1_000, 60_000);
    sut.replace(['a', 'b', 'c']);
    sut.failed('b', now);

    expect(sut.pick(new Set(), now)).toBe('a');
    expect(sut.pick(new Set(), now)).toBe('c');
    expect(sut.pick(new Set(['a']), now)).toBe('c');
    expect(sut.pick(new Set(['a', 'c']), now)).toBeUndefined();
  });

  it('still offers the address due soonest when every address is cooling down', () => {
    const sut = new AddressBook(1_000, 60_000);
    sut.replace(['a', 'b']);
    sut.failed('a', now);
    sut.failed('a', now); // cools down for 2 s
    sut.failed('b', now); // cools down for 1 s

    expect(sut.pick(new Set(), now)).toBe('b');
    // Within one connection attempt each address is tried once at most.
    expect(sut.pick(new Set(['b']), now)).toBeUndefined();
  });
});
