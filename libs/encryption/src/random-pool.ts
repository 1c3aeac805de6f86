import { randomBytes } from 'node:crypto';

/** Bytes fetched from the CSPRNG at once: 292 messages' data keys and ivs. */
const POOL_BYTES = 16 * 1024;

/**
 * Cryptographically random bytes drawn from a buffer filled in bulk, as node's randomUUID does:
 * one call into OpenSSL per POOL_BYTES instead of one per message. Each byte is handed out once.
 */
export class RandomPool {
  private pool = Buffer.alloc(0);
  private offset = 0;

  constructor(private readonly poolBytes = POOL_BYTES) {}

  take(size: number): Buffer {
    if (this.offset + size > this.pool.length) {
      this.pool = randomBytes(Math.max(this.poolBytes, size));
      this.offset = 0;
    }
    const bytes = this.pool.subarray(this.offset, this.offset + size);
    this.offset += size;
    return bytes;
  }
}
