import { randomBytes } from 'node:crypto';

/**
 * A new random key in the gateway's format, `mgw_<48-bit prefix>_<256-bit secret>` (API_KEY_FORMAT
 * in @mailgateway/auth), made here so that `keys generate` needs no gateway and none of its libs.
 * The CLI suite registers such a key as BOOTSTRAP_API_KEY and calls the gateway with it.
 */
export const newApiKey = (): string =>
  `mgw_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
