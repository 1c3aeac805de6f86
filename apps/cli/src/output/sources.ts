import { Source, SuppressedRecipients } from '@mailgateway/client';

/** One line: the name, then its roles and whichever policy parts are set. */
export function printSource(source: Source): void {
  const policy = source.policy;
  const parts = [
    `roles: ${source.roles.join(', ')}`,
    policy?.allowedFromDomains.length ? `from: ${policy.allowedFromDomains.join(', ')}` : '',
    policy?.maxRecipients ? `max recipients: ${policy.maxRecipients}` : '',
    policy?.rateLimitMessages ? `rate limit: ${policy.rateLimitMessages}/window` : '',
    policy?.drivers.length ? `drivers: ${policy.drivers.join(' > ')}` : '',
    policy?.suppressedRecipients === SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE
      ? 'suppressed recipients: refuse'
      : policy?.suppressedRecipients === SuppressedRecipients.SUPPRESSED_RECIPIENTS_DROP
        ? 'suppressed recipients: drop'
        : '',
    policy?.bodyRetentionSeconds !== undefined ? `body retention: ${policy.bodyRetentionSeconds}s` : '',
    policy?.historyRetentionSeconds !== undefined
      ? `history retention: ${policy.historyRetentionSeconds}s`
      : '',
    source.certificateIdentity ? `certificate: ${source.certificateIdentity}` : '',
  ].filter(Boolean);
  console.log(`${source.name.padEnd(20)} ${parts.join('; ')}`);
}
