import type { Mail } from '@mailgateway/contracts';
import { ValidationException } from '@mailgateway/validation';
import { PermissionDeniedException } from './auth.exceptions';
import { Principal } from './principal';

/** The source may not send this (a From domain outside its policy): PERMISSION_DENIED. */
export class PolicyViolationException extends PermissionDeniedException {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = PolicyViolationException.name;
  }
}

/** Applies the source's own policy to a message that already passed validation. */
export function enforceSourcePolicy({ source, policy }: Principal, mail: Mail): void {
  if (policy.allowedFromDomains.length > 0) {
    const address = mail.from?.address ?? '';
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (!policy.allowedFromDomains.includes(domain)) {
      throw new PolicyViolationException(
        'mail.from.address',
        `source "${source}" may send from ${policy.allowedFromDomains.join(', ')} only`,
      );
    }
  }
  if (policy.maxRecipients !== null) {
    const count = mail.to.length + mail.cc.length + mail.bcc.length;
    if (count > policy.maxRecipients) {
      throw new ValidationException(
        'mail.to',
        `message has ${count} recipients across to, cc and bcc; source "${source}" may send to ${policy.maxRecipients}`,
      );
    }
  }
}
