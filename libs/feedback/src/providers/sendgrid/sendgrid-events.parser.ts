import { GATEWAY_MESSAGE_ID_METADATA_KEY } from '@mailgateway/contracts';
import type { BounceClass, FeedbackKind, ProviderFeedback } from '../../provider-feedback';
import { detailText, isRecord, nonEmptyString } from '../../intake/verification';

/** The custom arg the sendgrid driver sends with each message: SendGrid echoes it in every event. */
export const GATEWAY_ID_CUSTOM_ARG = GATEWAY_MESSAGE_ID_METADATA_KEY;

/** Engagement and bookkeeping events: nothing about the recipient's outcome. */
const IGNORED_EVENTS = new Set(['processed', 'open', 'click', 'group_resubscribe']);

export type ParsedEvents = { readonly feedback: ProviderFeedback[] } | { readonly problem: string };

/**
 * SendGrid's Event Webhook body: a JSON array of events (docs: "Event Webhook Reference").
 *
 * Mapping, and why:
 * - delivered → delivered; deferred → deferred (the receiving server said "later").
 * - bounce → bounce, classified by bounceClassOf below.
 * - dropped → dropped: SendGrid did not send to the address ("Bounced Address", "Unsubscribed
 *   Address", "Spam Reporting Address" for its own suppression lists, or an invalid message).
 * - spamreport → complaint; unsubscribe and group_unsubscribe → unsubscribe.
 * - processed, open, click, group_resubscribe, and event types SendGrid adds later: ignored.
 *
 * Matching: the `mailgateway_id` custom arg is the gateway's id; sg_message_id is the
 * X-Message-Id recorded at delivery followed by "." and SendGrid's filter suffix, which is cut.
 */
export function parseSendgridEvents(json: unknown): ParsedEvents {
  if (!Array.isArray(json)) return { problem: 'the body is not a JSON array of events' };
  const feedback: ProviderFeedback[] = [];
  for (const [index, event] of json.entries()) {
    if (!isRecord(event)) return { problem: `event [${index}] is not an object` };
    const type = event.event;
    if (!nonEmptyString(type)) return { problem: `event [${index}]: "event" is missing` };
    if (IGNORED_EVENTS.has(type)) continue;
    const kind = KIND_OF_EVENT[type];
    if (!kind) continue;
    const { email, sg_event_id: eventId, timestamp } = event;
    if (!nonEmptyString(email) || !email.includes('@'))
      return { problem: `event [${index}]: "email" is not an address` };
    if (!nonEmptyString(eventId)) return { problem: `event [${index}]: "sg_event_id" is missing` };
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp))
      return { problem: `event [${index}]: "timestamp" is not a number` };
    const gatewayId = event[GATEWAY_ID_CUSTOM_ARG];
    const providerId = event.sg_message_id;
    feedback.push({
      provider: 'sendgrid',
      eventId,
      kind,
      ...(kind === 'bounce' ? { bounceClass: bounceClassOf(event) } : {}),
      recipient: email.toLowerCase(),
      ...(nonEmptyString(gatewayId) ? { gatewayMessageId: gatewayId } : {}),
      ...(nonEmptyString(providerId) ? { providerMessageId: providerId.split('.')[0] } : {}),
      detail: detailOf(type, event),
      occurredAt: Math.round(timestamp * 1000),
    });
  }
  return { feedback };
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
 * - 5.7.x (policy, authentication, spam filters), or classification "Reputation" or "Content":
 *   undetermined. The refusal is about the sender or the message, not the address.
 * - 5.1.x (bad mailbox, bad domain), or classification "Invalid Address": hard.
 * - 4.x.x, 5.2.x (mailbox full or disabled), type "blocked", or classification "Mailbox
 *   Unavailable" or "Frequency or Volume": soft.
 * - Anything else ("Technical", "Unclassified", other 5.x.x): undetermined.
 */
export function bounceClassOf(event: Record<string, unknown>): BounceClass {
  const status = typeof event.status === 'string' ? event.status.trim() : '';
  const classification = typeof event.bounce_classification === 'string' ? event.bounce_classification : '';
  if (status.startsWith('5.7.') || classification === 'Reputation' || classification === 'Content')
    return 'undetermined';
  if (status.startsWith('5.1.') || classification === 'Invalid Address') return 'hard';
  if (
    status.startsWith('4.') ||
    status.startsWith('5.2.') ||
    event.type === 'blocked' ||
    classification === 'Mailbox Unavailable' ||
    classification === 'Frequency or Volume'
  )
    return 'soft';
  return 'undetermined';
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
