import { RandomPool } from './random-pool';

describe(RandomPool.name, () => {
  it('hands out each byte once: successive takes never overlap, within a pool or across refills', () => {
    const pool = new RandomPool(100);
    const taken = Array.from({ length: 30 }, () => pool.take(24));
    // 24-byte random values repeat only if bytes were handed out twice.
    expect(new Set(taken.map((bytes) => bytes.toString('hex'))).size).toBe(30);
    // Four fit in a pool of 100; the fifth comes from a new one, so the old one is not reused.
    expect(taken[4].buffer).not.toBe(taken[3].buffer);
    expect(taken[3].buffer).toBe(taken[0].buffer);
    expect(taken[1].byteOffset).toBe(taken[0].byteOffset + 24);
  });

  it('serves a take larger than its pool size in one piece', () => {
    const bytes = new RandomPool(16).take(64);
    expect(bytes).toHaveLength(64);
    expect(bytes.equals(Buffer.alloc(64))).toBe(false);
  });
});
