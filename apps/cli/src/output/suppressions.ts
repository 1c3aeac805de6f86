import { Suppression } from '@mailgateway/client';
import { formatTime, shortName } from './format';

const REASON_PREFIX = 'SUPPRESSION_REASON_';

/** One line per entry: address, scope, reason, when added, when it lapses, and its origin. */
export function printSuppression(suppression: Suppression): void {
  const reason = shortName(suppression.reason, REASON_PREFIX).padEnd(12);
  const expires = suppression.expiresAt ? `expires ${formatTime(suppression.expiresAt)}` : 'no expiry';
  console.log(
    `${suppression.address}  ${suppression.scope.padEnd(20)} ${reason} added ${formatTime(suppression.createdAt)}  ${expires}  ${suppression.origin}`,
  );
}

/** One JSON object per line, with the contract's field names and times in ISO 8601. */
export function printSuppressionJson(suppression: Suppression): void {
  console.log(
    JSON.stringify({
      address: suppression.address,
      scope: suppression.scope,
      reason: shortName(suppression.reason, REASON_PREFIX),
      origin: suppression.origin,
      createdAt: formatTime(suppression.createdAt),
      expiresAt: suppression.expiresAt ? formatTime(suppression.expiresAt) : null,
    }),
  );
}

/** An address a source may send to, in the same column layout as an entry. */
export function printNotSuppressed(address: string): void {
  console.log(`${address}  not suppressed`);
}
