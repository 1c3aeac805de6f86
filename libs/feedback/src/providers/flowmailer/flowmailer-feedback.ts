import { POLICY_REFUSAL_STATUS } from '../../provider-feedback';
import type { BounceClass, FeedbackKind, ProviderFeedback } from '../../provider-feedback';
import type { FlowmailerMessage, FlowmailerMessageEvent } from './flowmailer-message-event';

const MAX_DETAIL_LENGTH = 500;

/** Flowmailer's event types that say what became of a recipient; the others (OPENED, ...) give no feedback. */
const KINDS: Readonly<Record<string, { kind: FeedbackKind; bounceClass?: BounceClass }>> = {
  DELIVERED: { kind: 'delivered' },
  HARDBOUNCE: { kind: 'bounce', bounceClass: 'hard' },
  SOFTBOUNCE: { kind: 'bounce', bounceClass: 'soft' },
  COMPLAINT: { kind: 'complaint' },
  UNSUBSCRIBE: { kind: 'unsubscribe' },
  // Flowmailer did not send it: refused (REJECT) or dropped by a flow (DISCARD).
  REJECT: { kind: 'dropped' },
  DISCARD: { kind: 'dropped' },
};

export function isFeedbackEvent(event: FlowmailerMessageEvent): boolean {
  return KINDS[event.type] !== undefined;
}

/** The event as feedback about the message's one recipient, or undefined when it says nothing about it. */
export function flowmailerFeedback(
  event: FlowmailerMessageEvent,
  message: FlowmailerMessage,
  fallbackTime: number,
): ProviderFeedback | undefined {
  const mapped = KINDS[event.type];
  const recipient = message.recipientAddress?.trim().toLowerCase();
  if (!mapped || !recipient) return undefined;
  const snippet = event.snippet ?? '';
  // A policy or reputation refusal (x.7.x) says nothing about the address.
  const bounceClass =
    mapped.bounceClass && POLICY_REFUSAL_STATUS.test(snippet) ? 'undetermined' : mapped.bounceClass;
  const occurredAt = event.received ? Date.parse(event.received) : NaN;
  return {
    provider: 'flowmailer',
    eventId: event.id,
    kind: mapped.kind,
    ...(bounceClass ? { bounceClass } : {}),
    recipient,
    ...(message.gatewayMessageId ? { gatewayMessageId: message.gatewayMessageId } : {}),
    providerMessageId: event.messageId,
    detail: [`Flowmailer ${event.type}`, event.subType, snippet]
      .filter(Boolean)
      .join(': ')
      .slice(0, MAX_DETAIL_LENGTH),
    occurredAt: Number.isNaN(occurredAt) ? fallbackTime : occurredAt,
  };
}
