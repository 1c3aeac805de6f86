import { GATEWAY_MESSAGE_ID_METADATA_KEY } from '@mailgateway/contracts';
import {
  POLICY_REFUSAL_STATUS,
  type BounceClass,
  type DropReason,
  type FeedbackKind,
  type ProviderFeedback,
} from '../../provider-feedback';
import { detailText, isRecord, nonEmptyString } from '../../intake/verification';

/** The custom arg the sendgrid driver sends with each message: SendGrid echoes it in every event. */
export const GATEWAY_ID_CUSTOM_ARG = GATEWAY_MESSAGE_ID_METADATA_KEY;

/** Engagement and bookkeeping events: nothing about the recipient's outcome. */
const IGNORED_EVENTS = new Set(['processed', 'open', 'click', 'group_resubscribe']);

/** Drop reasons SendGrid gives for its own suppression lists. */
const DROP_REASONS: Readonly<Record<string, DropReason | undefined>> = {
  'Bounced Address': 'provider-list',
  'Spam Reporting Address': 'provider-list',
  'Unsubscribed Address': 'unsubscribed',
};

export type ParsedEvents =
  | {
      readonly feedback: ProviderFeedback[];
      /** Events that are not SendGrid's documented shape: left out, the others kept. */
      readonly skipped: number;
    }
  | { readonly problem: string };

/**
 * SendGrid's Event Webhook body: a JSON array of events (docs: "Event Webhook Reference").
 *
 * Mapping, and why:
 * - delivered → delivered; deferred → deferred (the receiving server said "later").
 * - bounce → bounce, classified by bounceClassOf below.
 * - dropped → dropped: SendGrid did not send to the address. For its own suppression lists
 *   ("Bounced Address", "Spam Reporting Address") the drop suppresses the address (reason
 *   PROVIDER), for "Unsubscribed Address" as an unsubscribe; for anything else (an invalid
 *   address or message) it suppresses nothing.
 * - spamreport → complaint; unsubscribe and group_unsubscribe → unsubscribe.
 * - processed, open, click, group_resubscribe, and event types SendGrid adds later: ignored.
 *
 * Matching: the `mailgateway_id` custom arg is the gateway's id; sg_message_id is the
 * X-Message-Id recorded at delivery followed by "." and SendGrid's filter suffix, which is cut.
 */
export function parseSendgridEvents(json: unknown): ParsedEvents {
  if (!Array.isArray(json)) return { problem: 'the body is not a JSON array of events' };
  const feedback: ProviderFeedback[] = [];
  let skipped = 0;
  for (const event of json as unknown[]) {
    const parsed = parseEvent(event);
    if (parsed === 'malformed') skipped += 1;
    else if (parsed) feedback.push(parsed);
  }
  return { feedback, skipped };
}

/**
 * One event: its feedback, undefined for an event that says nothing about the outcome, or
 * malformed. A malformed event is skipped alone: refusing the batch would make SendGrid retry it
 * and then drop it, with every complaint in it.
 */
function parseEvent(event: unknown): ProviderFeedback | undefined | 'malformed' {
  if (!isRecord(event)) return 'malformed';
  const type = event.event;
  if (!nonEmptyString(type)) return 'malformed';
  if (IGNORED_EVENTS.has(type)) return undefined;
  const kind = KIND_OF_EVENT[type];
  if (!kind) return undefined;
  const { email, sg_event_id: eventId, timestamp } = event;
  if (!nonEmptyString(email) || !email.includes('@')) return 'malformed';
  if (!nonEmptyString(eventId)) return 'malformed';
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return 'malformed';
  const gatewayId = event[GATEWAY_ID_CUSTOM_ARG];
  const providerId = event.sg_message_id;
  return {
    provider: 'sendgrid',
    eventId,
    kind,
    ...(kind === 'bounce' ? { bounceClass: bounceClassOf(event) } : {}),
    ...(kind === 'dropped' ? { dropReason: dropReasonOf(event) } : {}),
    recipient: email.toLowerCase(),
    ...(nonEmptyString(gatewayId) ? { gatewayMessageId: gatewayId } : {}),
    ...(nonEmptyString(providerId) ? { providerMessageId: providerId.split('.')[0] } : {}),
    detail: detailOf(type, event),
    occurredAt: Math.round(timestamp * 1000),
  };
}

const KIND_OF_EVENT: Readonly<Record<string, FeedbackKind | undefined>> = {
  delivered: 'delivered',
  deferred: 'deferred',
  bounce: 'bounce',
  dropped: 'dropped',
  spamreport: 'complaint',
  unsubscribe: 'unsubscribe',
  group_unsubscribe: 'unsubscribe',
};

/**
 * A bounce ("type": "bounce", or "blocked" for a refusal SendGrid expects to be temporary), read
 * from its SMTP status and SendGrid's bounce_classification:
 * - 4.7.x or 5.7.x in the status or the reason (policy, authentication, spam filters, Gmail's
 *   421-4.7.28 rate limit), or classification "Reputation", "Content" or "Frequency or Volume":
 *   undetermined. The refusal is about the sender or the message, not the address, and must not
 *   count toward a soft-bounce streak.
 * - 5.1.x (bad mailbox, bad domain), or classification "Invalid Address": hard.
 * - 4.x.x, 5.2.x (mailbox full or disabled), type "blocked", or classification "Mailbox
 *   Unavailable": soft.
 * - Anything else ("Technical", "Unclassified", other 5.x.x): undetermined.
 */
export function bounceClassOf(event: Record<string, unknown>): BounceClass {
  const status = typeof event.status === 'string' ? event.status.trim() : '';
  const classification = typeof event.bounce_classification === 'string' ? event.bounce_classification : '';
  const reason = typeof event.reason === 'string' ? event.reason : '';
  if (
    POLICY_REFUSAL_STATUS.test(` ${status} ${reason}`) ||
    classification === 'Reputation' ||
    classification === 'Content' ||
    classification === 'Frequency or Volume'
  )
    return 'undetermined';
  if (status.startsWith('5.1.') || classification === 'Invalid Address') return 'hard';
  if (
    status.startsWith('4.') ||
    status.startsWith('5.2.') ||
    event.type === 'blocked' ||
    classification === 'Mailbox Unavailable'
  )
    return 'soft';
  return 'undetermined';
}

function dropReasonOf(event: Record<string, unknown>): DropReason {
  return (typeof event.reason === 'string' ? DROP_REASONS[event.reason.trim()] : undefined) ?? 'other';
}

function detailOf(type: string, event: Record<string, unknown>): string {
  switch (type) {
    case 'bounce':
      return detailText(event.type, event.status, event.bounce_classification, event.reason);
    case 'dropped':
      return detailText(event.reason);
    case 'delivered':
    case 'deferred':
      return detailText(
        event.response,
        type === 'deferred' ? event.attempt && `(attempt ${String(event.attempt)})` : '',
      );
    default:
      return type;
  }
}
