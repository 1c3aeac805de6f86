import { ApiKey } from '@mailgateway/client';
import { formatTime } from './format';

/** One line per key: prefix, source, creation and state; a stored key has no secret to print. */
export function printKey(key: ApiKey): void {
  const state = key.revokedAt
    ? `revoked ${formatTime(key.revokedAt)}`
    : key.expiresAt
      ? `expires ${formatTime(key.expiresAt)}`
      : 'no expiry';
  const replaced = key.replacedBy ? `, replaced by ${key.replacedBy}` : '';
  console.log(
    `${key.prefix}  ${key.source.padEnd(20)} created ${formatTime(key.createdAt)}  ${state}${replaced}`,
  );
}

/** A new key on stdout (for a pipe or a secret store) and the reminder on stderr. */
export function printNewKey(key: string): void {
  console.log(key);
  console.error("This key is shown only now; store it in the calling service's secret store.");
}
