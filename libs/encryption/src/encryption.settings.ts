import { defineConfig, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface EncryptionConfig {
  /** CONTENT_KEYS as given ("id:base64,..."); parsed by the key ring, never printed. */
  readonly keys: string | null;
  /** A folder of key files (file name = key id), e.g. a mounted Kubernetes Secret. */
  readonly keysDir: string | null;
  /** The key that wraps new data keys; null: the last listed (CONTENT_KEYS) or greatest name (folder). */
  readonly activeKeyId: string | null;
}

export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const encryptionConfig = defineConfig({
  name: 'content encryption',
  settings: {
    CONTENT_KEYS: setting({
      description:
        'The content key ring: comma-separated `id:key` entries, each key 32 random bytes in base64 (`openssl rand -base64 32`). Message content is sealed with a data key per message, wrapped by the newest key; older keys still open what they wrapped. Required on PostgreSQL unless CONTENT_KEYS_DIR is set; not both.',
      schema: z.string().optional(),
      sensitive: true,
    }),
    CONTENT_KEYS_DIR: setting({
      description:
        'A folder holding the content key ring, one file per key: file name = key id, content = 32 bytes in base64 (a mounted Kubernetes Secret fits). On SQLite with neither this nor CONTENT_KEYS set, the gateway keeps its ring in `content-keys/` beside the database file and creates a key there on first start.',
      schema: z.string().min(1).optional(),
    }),
    CONTENT_ACTIVE_KEY_ID: setting({
      description:
        'The id of the key that wraps new data keys (the newest). Unset: the last entry of CONTENT_KEYS, or the greatest file name (in code-point order) of CONTENT_KEYS_DIR.',
      schema: z.string().regex(KEY_ID_PATTERN, 'must be a key id (letters, digits, . _ -)').optional(),
    }),
  },
  check: (values) =>
    values.CONTENT_KEYS !== undefined && values.CONTENT_KEYS_DIR !== undefined
      ? ['CONTENT_KEYS_DIR: set either CONTENT_KEYS or CONTENT_KEYS_DIR, not both']
      : [],
  build: (values): EncryptionConfig => ({
    keys: values.CONTENT_KEYS ?? null,
    keysDir: values.CONTENT_KEYS_DIR ?? null,
    activeKeyId: values.CONTENT_ACTIVE_KEY_ID ?? null,
  }),
});
