import { AddressFilter, addressDigest, isAddressDigest } from './address-filter';

const addresses = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}@example.com`);

describe(AddressFilter.name, () => {
  it('holds every address added, even past its capacity', () => {
    const filter = new AddressFilter(1_000);
    const added = addresses('listed', 3_000);
    for (const address of added) filter.add(addressDigest(address));

    expect(added.filter((address) => !filter.mayContain(addressDigest(address)))).toEqual([]);
    expect(filter.entries).toBe(3_000);
  });

  it('rules out about 99% of the addresses never added while at capacity', () => {
    const filter = new AddressFilter(10_000);
    for (const address of addresses('listed', 10_000)) filter.add(addressDigest(address));

    const falsePositives = addresses('other', 20_000).filter((address) =>
      filter.mayContain(addressDigest(address)),
    ).length;
    // 1% expected: 200 of 20,000; twice that would mean the probes are not independent.
    expect(falsePositives).toBeLessThan(400);
  });

  it('rules out everything while empty', () => {
    const filter = new AddressFilter(1);

    expect(addresses('any', 100).some((address) => filter.mayContain(addressDigest(address)))).toBe(false);
  });

  it('knows an address by the first 16 hex digits of its SHA-256, as every replica does', () => {
    // sha256("ada@example.org") = cfe00dde46ef9426…
    expect(addressDigest('ada@example.org')).toBe('cfe00dde46ef9426');
    expect(isAddressDigest('cfe00dde46ef9426')).toBe(true);
    expect(isAddressDigest('ada@example.org')).toBe(false);
    expect(isAddressDigest('A2F1B1BD2CF3A6CE')).toBe(false);
  });
});
