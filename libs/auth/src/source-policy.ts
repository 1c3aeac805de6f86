import type { Mail } from '@mailgateway/contracts';
import { ErrorCode, GatewayException } from '@mailgateway/errors';
import { PermissionDeniedException } from './permission-denied.exception';
import { Principal } from './principal';

/** The message has more recipients than the source's own cap allows. */
export class RecipientCapException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;
}

/** Applies the source's own policy to a message that already passed validation. */
export function enforceSourcePolicy({ source, policy }: Principal, mail: Mail): void {
  if (policy.allowedFromDomains.length > 0) {
    const address = mail.from?.address ?? '';
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (!policy.allowedFromDomains.includes(domain)) {
      throw new PermissionDeniedException(
        `source "${source}" may send from ${policy.allowedFromDomains.join(', ')} only`,
        { field: 'mail.from.address' },
      );
    }
  }
  if (policy.maxRecipients !== null) {
    const count = mail.to.length + mail.cc.length + mail.bcc.length;
    if (count > policy.maxRecipients) {
      throw new RecipientCapException(
        `message has ${count} recipients across to, cc and bcc; source "${source}" may send to ${policy.maxRecipients}`,
        { field: 'mail.to' },
      );
    }
  }
}
