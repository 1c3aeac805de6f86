import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseConfig } from '@mailgateway/database';
import { ContentKeyException } from './content-key.exception';
import { EncryptionConfig } from './encryption.settings';
import { CONTENT_KEY_BYTES, ContentKey, decodeKey, KeyRing } from './key-ring';

/** The id of the key an embedded gateway makes for itself on first start. */
export const EMBEDDED_KEY_ID = 'local-1';

export interface LoadedKeyRing {
  readonly ring: KeyRing;
  /** Set when the gateway made the ring's first key itself (embedded default): where it is. */
  readonly createdKeyFile: string | null;
  /** Where the ring came from, for the log (never a key). */
  readonly origin: string;
}

/**
 * The ring from CONTENT_KEYS or CONTENT_KEYS_DIR. With neither, an embedded (SQLite) gateway uses
 * the folder content-keys/ beside its database file and makes its first key there (mode 0600), so
 * a fresh checkout runs with no settings; PostgreSQL deployments must give a ring.
 */
export function loadKeyRing(config: EncryptionConfig, database: DatabaseConfig): LoadedKeyRing {
  if (config.keys !== null) {
    return {
      ring: new KeyRing(parseKeys(config.keys), config.activeKeyId, 'CONTENT_KEYS'),
      createdKeyFile: null,
      origin: 'CONTENT_KEYS',
    };
  }
  if (config.keysDir !== null) {
    return {
      ring: new KeyRing(
        readKeyFolder(config.keysDir),
        config.activeKeyId,
        `CONTENT_KEYS_DIR ${config.keysDir}`,
      ),
      createdKeyFile: null,
      origin: `CONTENT_KEYS_DIR ${config.keysDir}`,
    };
  }
  if (database.type !== 'sqlite') {
    throw new ContentKeyException(
      'no content key ring: on PostgreSQL set CONTENT_KEYS or CONTENT_KEYS_DIR (see "Content encryption and key rotation" in the README)',
    );
  }
  const folder = join(dirname(database.path), 'content-keys');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  let createdKeyFile: string | null = null;
  if (keyFileNames(folder).length === 0) {
    createdKeyFile = join(folder, EMBEDDED_KEY_ID);
    // wx: never overwrite a key another start made meanwhile.
    writeFileSync(createdKeyFile, `${randomBytes(CONTENT_KEY_BYTES).toString('base64')}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  }
  return {
    ring: new KeyRing(readKeyFolder(folder), config.activeKeyId, `the key folder ${folder}`),
    createdKeyFile,
    origin: `the key folder ${folder}`,
  };
}

function parseKeys(list: string): ContentKey[] {
  const where = 'CONTENT_KEYS';
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry, index) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) throw new ContentKeyException(`${where}: entry ${index + 1} is not "id:base64-key"`);
      const id = entry.slice(0, colon);
      return { id, key: decodeKey(id, entry.slice(colon + 1), where) };
    });
}

/** One key per file, in code-point order of the names, so the greatest name comes last (newest). */
function readKeyFolder(folder: string): ContentKey[] {
  let names: string[];
  try {
    names = keyFileNames(folder);
  } catch (error) {
    throw new ContentKeyException(`CONTENT_KEYS_DIR ${folder} cannot be read: ${(error as Error).message}`);
  }
  return names.map((id) => ({
    id,
    key: decodeKey(id, readFileSync(join(folder, id), 'utf8'), `CONTENT_KEYS_DIR ${folder}`),
  }));
}

/** Regular files (or links to them); a mounted Secret's own "..data" entries start with a dot. */
function keyFileNames(folder: string): string[] {
  return readdirSync(folder)
    .filter((name) => !name.startsWith('.') && statSync(join(folder, name)).isFile())
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
