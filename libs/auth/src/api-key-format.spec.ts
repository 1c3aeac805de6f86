import { apiKeyMatches, apiKeyPrefix, generateApiKey, hashApiKey } from './api-key-format';

describe(generateApiKey.name, () => {
  it('makes a key with a visible prefix and at least 128 random bits', () => {
    const sut = generateApiKey();
    expect(sut.key).toMatch(/^mgw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(sut.key.startsWith(`mgw_${sut.prefix}_`)).toBe(true);
    expect(sut.hash).toBe(hashApiKey(sut.key));
    // 43 base64url characters carry 256 bits.
    expect(Buffer.from(sut.key.split('_').slice(2).join('_'), 'base64url')).toHaveLength(32);
  });

  it('never makes the same key twice', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey().key));
    expect(keys.size).toBe(1000);
  });
});

describe(apiKeyPrefix.name, () => {
  it('refuses anything that is not a whole key', () => {
    const { key } = generateApiKey();
    expect(apiKeyPrefix(key)).toBe(key.slice(4, 16));
    for (const bad of ['', 'mgw_', `${key}x`, key.slice(0, -1), key.replace('mgw_', 'mgx_'), ` ${key}`]) {
      expect(apiKeyPrefix(bad)).toBeUndefined();
    }
  });
});

describe(apiKeyMatches.name, () => {
  it('matches only the key whose hash is stored', () => {
    const { key, hash } = generateApiKey();
    expect(apiKeyMatches(key, hash)).toBe(true);
    expect(apiKeyMatches(generateApiKey().key, hash)).toBe(false);
    expect(apiKeyMatches(key, 'abcd')).toBe(false);
  });
});
