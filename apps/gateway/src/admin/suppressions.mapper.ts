import { SOURCE_NAME } from '@mailgateway/auth';
import {
  AddSuppressionRequest,
  CheckSuppressionsRequest,
  ListSuppressionsRequest,
  SuppressionReason as ProtoReason,
  RemoveSuppressionRequest,
  Suppression as ProtoSuppression,
  Timestamp,
} from '@mailgateway/contracts';
import {
  ALL_SOURCES,
  ManualSuppression,
  Suppression,
  SuppressionQuery,
  SuppressionReason,
  SuppressionRemoval,
} from '@mailgateway/suppression';
import { addressProblem, ValidationException } from '@mailgateway/validation';
import { toTimestamp } from '../mail/mail.mapper';

/** Most addresses one CheckSuppressions call may ask about, and most entries on one page. */
export const MAX_SUPPRESSION_BATCH = 1000;
const DEFAULT_PAGE_SIZE = 100;
/** Longest note of a manual entry, and longest reason for lifting one. */
const MAX_NOTE_CHARS = 500;
/** Longest address the table holds. */
const MAX_ADDRESS_CHARS = 320;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799; // 9999-12-31T23:59:59Z, the proto limit

const REASON: Record<SuppressionReason, ProtoReason> = {
  [SuppressionReason.HardBounce]: ProtoReason.SUPPRESSION_REASON_HARD_BOUNCE,
  [SuppressionReason.Complaint]: ProtoReason.SUPPRESSION_REASON_COMPLAINT,
  [SuppressionReason.Unsubscribe]: ProtoReason.SUPPRESSION_REASON_UNSUBSCRIBE,
  [SuppressionReason.Manual]: ProtoReason.SUPPRESSION_REASON_MANUAL,
  [SuppressionReason.SoftBounces]: ProtoReason.SUPPRESSION_REASON_SOFT_BOUNCES,
  [SuppressionReason.Provider]: ProtoReason.SUPPRESSION_REASON_PROVIDER,
};

export function toProtoSuppression(suppression: Suppression): ProtoSuppression {
  return {
    address: suppression.address,
    scope: suppression.scope,
    reason: REASON[suppression.reason],
    origin: suppression.origin,
    createdAt: toTimestamp(suppression.createdAt),
    expiresAt: suppression.expiresAt === null ? undefined : toTimestamp(suppression.expiresAt),
  };
}

export function toSuppressionQuery(request: ListSuppressionsRequest): SuppressionQuery {
  const pageSize = request.pageSize ?? 0;
  if (pageSize > MAX_SUPPRESSION_BATCH) {
    throw new ValidationException('page_size', `${pageSize} is over the limit of ${MAX_SUPPRESSION_BATCH}`);
  }
  const addressPrefix = (request.addressPrefix ?? '').toLowerCase();
  if (addressPrefix.length > MAX_ADDRESS_CHARS) {
    throw new ValidationException(
      'address_prefix',
      `longer than an address can be (${MAX_ADDRESS_CHARS} characters)`,
    );
  }
  return {
    scope: request.scope ? scopeOf(request.scope, 'scope') : undefined,
    addressPrefix: addressPrefix || undefined,
    pageSize: pageSize || DEFAULT_PAGE_SIZE,
    pageToken: request.pageToken || undefined,
  };
}

/** The source and the lowercased addresses, each once, in the order asked. */
export function toCheckedAddresses(request: CheckSuppressionsRequest): {
  source: string;
  addresses: string[];
} {
  const source = request.source ?? '';
  if (source === '') throw new ValidationException('source', 'required');
  if (!SOURCE_NAME.test(source)) throw new ValidationException('source', `"${source}" is not a source name`);
  const addresses = request.addresses ?? [];
  if (addresses.length === 0) throw new ValidationException('addresses', 'at least one address is required');
  if (addresses.length > MAX_SUPPRESSION_BATCH) {
    throw new ValidationException(
      'addresses',
      `${addresses.length} addresses; at most ${MAX_SUPPRESSION_BATCH} per call`,
    );
  }
  const checked = addresses.map((address, index) => addressOf(address, `addresses[${index}]`));
  return { source, addresses: [...new Set(checked)] };
}

export function toManualSuppression(
  { suppression }: AddSuppressionRequest,
  now = Date.now(),
): ManualSuppression {
  if (!suppression) throw new ValidationException('suppression', 'required');
  const origin = suppression.origin ?? '';
  if (origin.length > MAX_NOTE_CHARS) {
    throw new ValidationException(
      'suppression.origin',
      `${origin.length} characters; the limit is ${MAX_NOTE_CHARS}`,
    );
  }
  const expiresAt = suppression.expiresAt
    ? epochMillis(suppression.expiresAt, 'suppression.expires_at')
    : null;
  if (expiresAt !== null && expiresAt <= now) {
    throw new ValidationException(
      'suppression.expires_at',
      `${new Date(expiresAt).toISOString()} is not in the future`,
    );
  }
  return {
    address: addressOf(suppression.address ?? '', 'suppression.address'),
    scope: suppression.scope ? scopeOf(suppression.scope, 'suppression.scope') : ALL_SOURCES,
    origin,
    expiresAt,
  };
}

export function toSuppressionRemoval(request: RemoveSuppressionRequest): SuppressionRemoval {
  const reason = request.reason ?? '';
  if (reason.length > MAX_NOTE_CHARS) {
    throw new ValidationException('reason', `${reason.length} characters; the limit is ${MAX_NOTE_CHARS}`);
  }
  return {
    address: addressOf(request.address ?? '', 'address'),
    scope: request.scope ? scopeOf(request.scope, 'scope') : ALL_SOURCES,
    force: request.force ?? false,
    reason,
  };
}

/** An email address as SendMail would take it, lowercased. */
function addressOf(address: string, field: string): string {
  const problem = addressProblem(address);
  if (problem) throw new ValidationException(field, problem);
  return address.toLowerCase();
}

function scopeOf(scope: string, field: string): string {
  if (scope === ALL_SOURCES || SOURCE_NAME.test(scope)) return scope;
  throw new ValidationException(field, `"${scope}" is neither "${ALL_SOURCES}" nor a source name`);
}

function epochMillis({ seconds, nanos }: Timestamp, field: string): number {
  if (!Number.isSafeInteger(seconds) || Math.abs(seconds) > MAX_TIMESTAMP_SECONDS) {
    throw new ValidationException(field, 'not a valid timestamp (seconds out of range)');
  }
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new ValidationException(field, 'not a valid timestamp (nanos must be 0 to 999999999)');
  }
  return seconds * 1000 + Math.floor(nanos / 1_000_000);
}
