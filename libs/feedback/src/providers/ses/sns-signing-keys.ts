import { createPublicKey, type KeyObject } from 'node:crypto';
import type { SnsFetcher } from './sns-fetcher';

// SNS signs with a handful of certificates at a time; a bound keeps forged URLs from growing it.
const MAX_CACHED = 64;

/**
 * The public keys of SNS signing certificates, fetched once per URL and kept. A failed fetch is
 * not kept, so the next notification tries again.
 */
export class SnsSigningKeys {
  private readonly keys = new Map<string, Promise<KeyObject>>();

  constructor(private readonly fetcher: SnsFetcher) {}

  get(url: string): Promise<KeyObject> {
    let key = this.keys.get(url);
    if (!key) {
      key = this.fetcher.get(url).then((pem) => createPublicKey(pem));
      key.catch(() => this.keys.delete(url));
      if (this.keys.size >= MAX_CACHED) this.keys.delete(this.keys.keys().next().value as string);
      this.keys.set(url, key);
    }
    return key;
  }
}
