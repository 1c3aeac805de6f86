import {
  ApiKeyEntity,
  ApiSourceEntity,
  SourceDefinition,
  splitList,
  SuppressedRecipientsMode,
} from '@mailgateway/auth';
import { ApiKey, Source, SuppressedRecipients } from '@mailgateway/contracts';
import { ValidationException } from '@mailgateway/validation';
import { toTimestamp } from '../mail/mail.mapper';

export function toSourceDefinition(source: Source | undefined): SourceDefinition {
  if (!source) throw new ValidationException('source', 'required');
  return {
    name: source.name,
    roles: source.roles,
    allowedFromDomains: source.policy?.allowedFromDomains ?? [],
    maxRecipients: source.policy?.maxRecipients || null,
    rateLimitMessages: source.policy?.rateLimitMessages || null,
    drivers: source.policy?.drivers ?? [],
    suppressedRecipients: toSuppressedRecipientsMode(source.policy?.suppressedRecipients),
    certificateIdentity: source.certificateIdentity || null,
    // proto3 optional: unset is the gateway's setting, 0 is a value (body: shred at once).
    bodyRetentionSeconds: source.policy?.bodyRetentionSeconds ?? null,
    historyRetentionSeconds: source.policy?.historyRetentionSeconds ?? null,
  };
}

export function toSource(source: ApiSourceEntity): Source {
  return {
    name: source.name,
    roles: splitList(source.roles),
    policy: {
      allowedFromDomains: splitList(source.allowedFromDomains ?? ''),
      maxRecipients: source.maxRecipients ?? 0,
      rateLimitMessages: source.rateLimitMessages ?? 0,
      drivers: splitList(source.drivers ?? ''),
      suppressedRecipients: toProtoSuppressedRecipients(source.suppressedRecipients),
      bodyRetentionSeconds: source.bodyRetentionSeconds ?? undefined,
      historyRetentionSeconds: source.historyRetentionSeconds ?? undefined,
    },
    certificateIdentity: source.certificateIdentity ?? '',
    createdAt: toTimestamp(source.createdAt),
    updatedAt: toTimestamp(source.updatedAt),
  };
}

const SUPPRESSED_RECIPIENTS_MODES: Partial<Record<SuppressedRecipients, SuppressedRecipientsMode>> = {
  [SuppressedRecipients.SUPPRESSED_RECIPIENTS_DROP]: SuppressedRecipientsMode.Drop,
  [SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE]: SuppressedRecipientsMode.Refuse,
};

/** UNSPECIFIED (or absent) is stored as null, which means drop; a value this gateway does not know is refused. */
function toSuppressedRecipientsMode(
  value: SuppressedRecipients | undefined,
): SuppressedRecipientsMode | null {
  if (value === undefined || value === SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED) return null;
  const mode = SUPPRESSED_RECIPIENTS_MODES[value];
  if (!mode) {
    throw new ValidationException('policy.suppressed_recipients', `unknown value ${String(value)}`);
  }
  return mode;
}

function toProtoSuppressedRecipients(stored: string | null): SuppressedRecipients {
  if (stored === SuppressedRecipientsMode.Drop) return SuppressedRecipients.SUPPRESSED_RECIPIENTS_DROP;
  if (stored === SuppressedRecipientsMode.Refuse) return SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE;
  return SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED;
}

export function toApiKey(key: ApiKeyEntity): ApiKey {
  return {
    prefix: key.prefix,
    source: key.source,
    createdAt: toTimestamp(key.createdAt),
    expiresAt: key.expiresAt === null ? undefined : toTimestamp(key.expiresAt),
    revokedAt: key.revokedAt === null ? undefined : toTimestamp(key.revokedAt),
    replacedBy: key.replacedBy ?? '',
  };
}

/** Seconds from the contract (0 = none) to milliseconds or null. */
export function secondsToMs(seconds: number): number | null {
  return seconds > 0 ? seconds * 1000 : null;
}
