import type { Mail } from '@mailgateway/contracts';
import { ErrorCode, GatewayException } from '@mailgateway/errors';
import type { SuppressedRecipient } from '@mailgateway/outbox';

/** A recipient is on the suppression list and the source's policy refuses such messages. */
export class SuppressedRecipientException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;
  declare readonly field: string;

  /** Names the first suppressed recipient in the mail's order: to, then cc, then bcc. */
  constructor(mail: Mail, suppressed: readonly SuppressedRecipient[]) {
    const byAddress = new Map(suppressed.map((recipient) => [recipient.address, recipient]));
    const [field, recipient] = firstSuppressed(mail, byAddress) ?? ['mail.to', suppressed[0]];
    super(`${recipient.address} is on the suppression list (${recipient.reason})`, { field });
  }
}

function firstSuppressed(
  mail: Mail,
  byAddress: ReadonlyMap<string, SuppressedRecipient>,
): [string, SuppressedRecipient] | undefined {
  for (const list of ['to', 'cc', 'bcc'] as const) {
    for (const [index, { address }] of mail[list].entries()) {
      const recipient = byAddress.get(address.toLowerCase());
      if (recipient) return [`mail.${list}[${index}].address`, recipient];
    }
  }
  return undefined;
}
