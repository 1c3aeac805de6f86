import { createHmac, randomBytes } from 'node:crypto';
import { KEY_ID_PATTERN } from './encryption.settings';
import { ContentKeyException, ContentKeyMissingException } from './content-key.exception';

export const CONTENT_KEY_BYTES = 32;

/** One key-encryption key of the ring. */
export interface ContentKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The operator's key-encryption keys, by id. The active one wraps every new data key; the others
 * only unwrap what they wrapped before. Holds keys in memory only; prints ids, never keys.
 */
export class KeyRing {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string;

  /** `keys` in the order given; the active key is `activeKeyId`, else the last of them. */
  constructor(keys: readonly ContentKey[], activeKeyId: string | null, where = 'the content key ring') {
    if (keys.length === 0) throw new ContentKeyException(`${where} holds no key`);
    const byId = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (!KEY_ID_PATTERN.test(id)) {
        throw new ContentKeyException(
          `${where}: key id "${id}" is not a key id (letters, digits, . _ -, up to 64)`,
        );
      }
      if (byId.has(id)) throw new ContentKeyException(`${where}: key id ${id} appears twice`);
      if (key.length !== CONTENT_KEY_BYTES) {
        throw new ContentKeyException(
          `${where}: key ${id} is ${key.length} bytes; a content key is ${CONTENT_KEY_BYTES} random bytes in base64`,
        );
      }
      byId.set(id, key);
    }
    this.activeKeyId = activeKeyId ?? keys[keys.length - 1].id;
    if (!byId.has(this.activeKeyId)) {
      throw new ContentKeyException(`CONTENT_ACTIVE_KEY_ID: key ${this.activeKeyId} is not in ${where}`);
    }
    this.keys = byId;
  }

  /** A ring of one new random key (for tests and tools). */
  static random(id = 'k1'): KeyRing {
    return new KeyRing([{ id, key: randomBytes(CONTENT_KEY_BYTES) }], id);
  }

  get ids(): readonly string[] {
    return [...this.keys.keys()];
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  /** The key `id`; ContentKeyMissingException when the ring does not hold it. */
  key(id: string): Buffer {
    const key = this.keys.get(id);
    if (!key) throw new ContentKeyMissingException(id);
    return key;
  }

  get activeKey(): Buffer {
    return this.key(this.activeKeyId);
  }

  /**
   * What the database keeps to tell that an id still names the same key: an HMAC of a fixed label,
   * which says nothing about the key itself.
   */
  checkValue(id: string): string {
    return createHmac('sha256', this.key(id)).update('mailgateway content key check value').digest('hex');
  }
}

/** Reads a base64 key; ContentKeyException naming `id` when it is not 32 bytes of base64. */
export function decodeKey(id: string, text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
    throw new ContentKeyException(
      `${where}: key ${id} is not base64; a content key is ${CONTENT_KEY_BYTES} random bytes in base64 (openssl rand -base64 32)`,
    );
  }
  return Buffer.from(trimmed, 'base64');
}
