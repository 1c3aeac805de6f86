import { GATEWAY_MESSAGE_ID_METADATA_KEY } from '@mailgateway/contracts';
import { createHash } from 'node:crypto';
import {
  POLICY_REFUSAL_STATUS,
  type BounceClass,
  type DropReason,
  type FeedbackKind,
  type ProviderFeedback,
} from '../../provider-feedback';
import { detailText, isRecord, nonEmptyString } from '../../intake/verification';

/** The Metadata key the postmark driver sends with each message: Postmark echoes it in webhooks. */
export const GATEWAY_ID_METADATA_KEY = GATEWAY_MESSAGE_ID_METADATA_KEY;

type Outcome = { kind: FeedbackKind; bounceClass?: BounceClass; dropReason?: DropReason };

export type ParsedRecord = { readonly feedback: ProviderFeedback[] } | { readonly problem: string };

/**
 * Bounce types (Postmark's Bounce API reference, "Bounce types"), and why:
 * - HardBounce, BadEmailAddress: hard. The address does not exist or cannot be one.
 * - SoftBounce, Transient, DnsError: soft. Temporary; Postmark keeps trying or the next message may pass.
 *   But any bounce whose Details carry a 4.7.x or 5.7.x status (a policy or reputation refusal) is
 *   undetermined: it must not count toward a soft-bounce streak.
 * - Unsubscribe (a list-unsubscribe reply): unsubscribe. SpamComplaint: complaint.
 * - ManuallyDeactivated: dropped, for Postmark's own list. Postmark did not send, the address being
 *   inactive there: the address is suppressed (reason PROVIDER).
 * - AutoResponder, AddressChange, Subscribe, OpenRelayTest, ChallengeVerification: ignored. Replies,
 *   not refusals: the message was delivered.
 * - Everything else (SpamNotification, Blocked, DMARCPolicy, VirusNotification, Unknown, ...):
 *   undetermined. The refusal is about the message or the sender, not the address.
 */
const BOUNCE_TYPES: Readonly<Record<string, Outcome | 'ignored'>> = {
  HardBounce: { kind: 'bounce', bounceClass: 'hard' },
  BadEmailAddress: { kind: 'bounce', bounceClass: 'hard' },
  SoftBounce: { kind: 'bounce', bounceClass: 'soft' },
  Transient: { kind: 'bounce', bounceClass: 'soft' },
  DnsError: { kind: 'bounce', bounceClass: 'soft' },
  Unsubscribe: { kind: 'unsubscribe' },
  SpamComplaint: { kind: 'complaint' },
  ManuallyDeactivated: { kind: 'dropped', dropReason: 'provider-list' },
  AutoResponder: 'ignored',
  AddressChange: 'ignored',
  Subscribe: 'ignored',
  OpenRelayTest: 'ignored',
  ChallengeVerification: 'ignored',
};

/**
 * One Postmark webhook record (a JSON object per request), by RecordType:
 * - Bounce: by Type (BOUNCE_TYPES). SpamComplaint: complaint. Both carry the bounce ID: the event id.
 * - Delivery: delivered.
 * - SubscriptionChange with SuppressSending true: unsubscribe when the recipient asked for it
 *   (ManualSuppression from Origin "Recipient"), otherwise dropped for Postmark's own list (Postmark
 *   suppressed the address after a hard bounce or complaint, or a person did), which suppresses the
 *   address with reason PROVIDER. A reactivation (false) changes nothing here.
 * - Open, Click and record types Postmark adds later: ignored.
 * Records without an ID (or with one past 2^53, which JSON numbers cannot hold exactly) get a sha256 of RecordType, MessageID, recipient, time (and the change).
 * Matching: Metadata.mailgateway_id, else MessageID (the id recorded at delivery).
 */
export function parsePostmarkRecord(json: unknown): ParsedRecord {
  if (!isRecord(json)) return { problem: 'the body is not a JSON object' };
  const type = json.RecordType;
  if (!nonEmptyString(type)) return { problem: '"RecordType" is missing' };
  switch (type) {
    case 'Bounce':
    case 'SpamComplaint':
      return bounce(type, json);
    case 'Delivery':
      return delivery(json);
    case 'SubscriptionChange':
      return subscriptionChange(json);
    default:
      return { feedback: [] };
  }
}

function bounce(type: 'Bounce' | 'SpamComplaint', record: Record<string, unknown>): ParsedRecord {
  const { ID: id, Email: email, BouncedAt: at, Type: bounceType } = record;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) return { problem: '"ID" is not a number' };
  const recipient = address(email);
  if (!recipient) return { problem: '"Email" is not an address' };
  const occurredAt = time(at);
  if (occurredAt === undefined) return { problem: '"BouncedAt" is not an ISO 8601 time' };
  const outcome =
    type === 'SpamComplaint' ? { kind: 'complaint' as const } : outcomeOfBounce(bounceType, record.Details);
  if (outcome === 'ignored') return { feedback: [] };
  return {
    feedback: [
      feedbackOf(record, {
        // Bounce IDs are 64-bit: past 2^53 JSON.parse rounds them, and two could meet; a digest cannot.
        eventId: Number.isSafeInteger(id) ? String(id) : digest(type, record.MessageID, recipient, at),
        ...outcome,
        recipient,
        detail: detailText(bounceType, record.Details),
        occurredAt,
      }),
    ],
  };
}

function outcomeOfBounce(bounceType: unknown, details: unknown): Outcome | 'ignored' {
  const outcome = (nonEmptyString(bounceType) ? BOUNCE_TYPES[bounceType] : undefined) ?? {
    kind: 'bounce',
    bounceClass: 'undetermined',
  };
  if (
    outcome !== 'ignored' &&
    outcome.kind === 'bounce' &&
    typeof details === 'string' &&
    POLICY_REFUSAL_STATUS.test(details)
  )
    return { kind: 'bounce', bounceClass: 'undetermined' };
  return outcome;
}

function delivery(record: Record<string, unknown>): ParsedRecord {
  const recipient = address(record.Recipient);
  if (!recipient) return { problem: '"Recipient" is not an address' };
  const occurredAt = time(record.DeliveredAt);
  if (occurredAt === undefined) return { problem: '"DeliveredAt" is not an ISO 8601 time' };
  return {
    feedback: [
      feedbackOf(record, {
        eventId: digest('Delivery', record.MessageID, recipient, record.DeliveredAt),
        kind: 'delivered',
        recipient,
        detail: detailText(record.Details),
        occurredAt,
      }),
    ],
  };
}

function subscriptionChange(record: Record<string, unknown>): ParsedRecord {
  const { SuppressSending: suppress, SuppressionReason: reason, Origin: origin } = record;
  if (typeof suppress !== 'boolean') return { problem: '"SuppressSending" is not a boolean' };
  const recipient = address(record.Recipient);
  if (!recipient) return { problem: '"Recipient" is not an address' };
  const occurredAt = time(record.ChangedAt);
  if (occurredAt === undefined) return { problem: '"ChangedAt" is not an ISO 8601 time' };
  if (!suppress) return { feedback: [] };
  const unsubscribed = reason === 'ManualSuppression' && origin === 'Recipient';
  return {
    feedback: [
      feedbackOf(record, {
        eventId: digest(
          'SubscriptionChange',
          record.MessageID,
          recipient,
          record.ChangedAt,
          String(suppress),
        ),
        ...(unsubscribed ? { kind: 'unsubscribe' } : { kind: 'dropped', dropReason: 'provider-list' }),
        recipient,
        detail: detailText('suppressed', reason, origin && `(origin ${String(origin)})`),
        occurredAt,
      }),
    ],
  };
}

function feedbackOf(
  record: Record<string, unknown>,
  fields: Omit<ProviderFeedback, 'provider' | 'gatewayMessageId' | 'providerMessageId'>,
): ProviderFeedback {
  const gatewayId = isRecord(record.Metadata) ? record.Metadata[GATEWAY_ID_METADATA_KEY] : undefined;
  const messageId = record.MessageID;
  return {
    provider: 'postmark',
    ...fields,
    ...(nonEmptyString(gatewayId) ? { gatewayMessageId: gatewayId } : {}),
    ...(nonEmptyString(messageId) ? { providerMessageId: messageId } : {}),
  };
}

function address(value: unknown): string | undefined {
  return nonEmptyString(value) && value.includes('@') ? value.toLowerCase() : undefined;
}

/** Postmark's times are ISO 8601 with an offset ("2014-08-01T13:28:10.2735393-04:00"). */
function time(value: unknown): number | undefined {
  if (!nonEmptyString(value) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function digest(...parts: readonly unknown[]): string {
  return createHash('sha256')
    .update(JSON.stringify(parts.map((part) => (part === undefined ? null : part))))
    .digest('hex');
}
