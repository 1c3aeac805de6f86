import {
  POLICY_REFUSAL_STATUS,
  type BounceClass,
  type FeedbackKind,
  type ProviderFeedback,
} from '../../provider-feedback';
import { detailText, isRecord, nonEmptyString } from '../../intake/verification';

const KIND_OF_TYPE: Readonly<Record<string, FeedbackKind | undefined>> = {
  'message.delivered': 'delivered',
  'message.deferred': 'deferred',
  'message.bounced': 'bounce',
  'message.complained': 'complaint',
  'message.unsubscribed': 'unsubscribe',
  'message.dropped': 'dropped',
};
const BOUNCE_CLASSES: readonly string[] = ['hard', 'soft', 'undetermined'] satisfies BounceClass[];

export type ParsedHttpFeedback = { readonly feedback: ProviderFeedback } | { readonly problem: string };

/**
 * The feedback the http driver's upstream posts to /webhooks/http, one event per request, signed as
 * Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature):
 *
 *   {
 *     "type": "message.delivered" | "message.deferred" | "message.bounced" | "message.complained"
 *           | "message.unsubscribed" | "message.dropped",
 *     "timestamp": "2026-12-01T10:00:00Z",          // when it happened, ISO 8601
 *     "data": {
 *       "messageId": "<the gateway's messageId the driver sent>",
 *       "recipient": "ada@example.com",
 *       "bounceClass": "hard" | "soft" | "undetermined",   // message.bounced only; default undetermined;
 *                                                          // undetermined whatever it says when the
 *                                                          // detail has a 4.7.x/5.7.x status
 *       "detail": "550 5.1.1 no such user"                 // optional, up to 500 characters kept
 *     }
 *   }
 *
 * The webhook-id is the event id: a retry of the same event must carry the same id, and is stored once.
 */
export function parseHttpFeedback(json: unknown, eventId: string): ParsedHttpFeedback {
  if (!isRecord(json)) return { problem: 'the body is not a JSON object' };
  const { type, timestamp, data } = json;
  const kind = typeof type === 'string' ? KIND_OF_TYPE[type] : undefined;
  if (!kind) return { problem: `"type" must be one of ${Object.keys(KIND_OF_TYPE).join(', ')}` };
  const occurredAt =
    nonEmptyString(timestamp) && /^\d{4}-\d{2}-\d{2}T/.test(timestamp) ? Date.parse(timestamp) : NaN;
  if (Number.isNaN(occurredAt)) return { problem: '"timestamp" is not an ISO 8601 time' };
  if (!isRecord(data)) return { problem: '"data" is not an object' };
  const { messageId, recipient, bounceClass, detail } = data;
  if (!nonEmptyString(messageId)) return { problem: '"data.messageId" is missing' };
  if (!nonEmptyString(recipient) || !recipient.includes('@'))
    return { problem: '"data.recipient" is not an address' };
  if (bounceClass !== undefined && (kind !== 'bounce' || !BOUNCE_CLASSES.includes(bounceClass as string)))
    return { problem: '"data.bounceClass" must be hard, soft or undetermined, and only on message.bounced' };
  if (detail !== undefined && typeof detail !== 'string') return { problem: '"data.detail" is not a string' };
  // A policy or reputation refusal says nothing about the address, whatever class the upstream gave.
  const policyRefusal = typeof detail === 'string' && POLICY_REFUSAL_STATUS.test(detail);
  return {
    feedback: {
      provider: 'http',
      eventId,
      kind,
      ...(kind === 'bounce'
        ? {
            bounceClass: policyRefusal
              ? 'undetermined'
              : ((bounceClass as BounceClass | undefined) ?? 'undetermined'),
          }
        : {}),
      recipient: recipient.toLowerCase(),
      gatewayMessageId: messageId,
      detail: detailText(detail),
      occurredAt,
    },
  };
}
