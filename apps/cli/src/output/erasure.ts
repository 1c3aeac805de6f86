import { EraseAddressResponse } from '@mailgateway/client';
import { formatTime } from './format';

/** What an erasure did, by its hash: the address is never printed back. */
export function printErasure(erasure: EraseAddressResponse): void {
  console.log(
    `erased ${erasure.addressHash} at ${formatTime(erasure.erasedAt)} (erasure ${erasure.erasureId})`,
  );
  console.log(`  messages shredded:  ${erasure.messagesShredded}`);
  console.log(`  records redacted:   ${erasure.recordsRedacted}`);
  console.log(`  suppressions kept:  ${erasure.suppressionsKept} (as the hash)`);
}
