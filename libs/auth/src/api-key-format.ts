import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * `mgw_<prefix>_<secret>`: the prefix (48 bits) names the key in listings and logs; the secret
 * (256 bits) is never stored. Keys are high-entropy, so one SHA-256 is enough to store them:
 * a slow password hash would only add latency to every call.
 */
export const API_KEY_FORMAT = /^mgw_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

export interface NewApiKey {
  readonly key: string;
  readonly prefix: string;
  readonly hash: string;
}

export function generateApiKey(): NewApiKey {
  const key = `mgw_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix: apiKeyPrefix(key)!, hash: hashApiKey(key) };
}

/** The prefix of a well-formed key, or undefined. */
export function apiKeyPrefix(key: string): string | undefined {
  return API_KEY_FORMAT.exec(key)?.[1];
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const presented = Buffer.from(hashApiKey(key), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
