import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
export const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM: iv, ciphertext and tag in one buffer; `context` is authenticated, not stored. */
export function sealBytes(key: Buffer, iv: Buffer, plaintext: Buffer, context: string): Buffer {
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext of sealBytes' output; throws when the key, the context or a byte differs. */
export function openBytes(key: Buffer, sealed: Buffer, context: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value is too short');
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([
    decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
    decipher.final(),
  ]);
}

const FIRST_BLOCK = Buffer.from([1]);

/**
 * The key a key-encryption key wraps one value with: HKDF-SHA256-Expand(kek, info) for 32 bytes,
 * info naming the value (a message id, a secret's name). Each derived key wraps one value, so the
 * random-iv bound of AES-GCM (2^32 uses of a key) applies per value, not to the KEK. The extract
 * step is skipped as RFC 5869 section 3.3 allows for a key that is already uniformly random (every
 * KEK is 32 random bytes): one HMAC, a quarter of node's hkdfSync on the accept path.
 */
export function wrappingKey(kek: Buffer, info: string): Buffer {
  return createHmac('sha256', kek).update(info, 'utf8').update(FIRST_BLOCK).digest();
}
