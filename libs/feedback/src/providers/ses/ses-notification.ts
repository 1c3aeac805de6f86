import { GATEWAY_MESSAGE_ID_HEADER } from '@mailgateway/contracts';
import { createHash } from 'node:crypto';
import {
  POLICY_REFUSAL_STATUS,
  type BounceClass,
  type DropReason,
  type FeedbackKind,
  type ProviderFeedback,
} from '../../provider-feedback';

/** The driver SES feedback is about: the gateway sends through SES's SMTP interface. */
export const SES_FEEDBACK_PROVIDER = 'smtp';

const GATEWAY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MESSAGE_ID = /^<([^@>]+)@[^>]+>$/;
const SUPPRESSED_SUBTYPES = new Set(['OnAccountSuppressionList', 'Suppressed']);
const MAX_DETAIL_LENGTH = 500;

type Json = Record<string, unknown>;

interface Outcome {
  readonly recipient: string;
  readonly kind: FeedbackKind;
  readonly bounceClass?: BounceClass;
  readonly dropReason?: DropReason;
  readonly detail: string;
  readonly occurredAt?: string;
}

/**
 * SES's notification (the Message of an SNS notification) as one ProviderFeedback per recipient.
 * Both shapes SES publishes are read: identity notifications (notificationType) and configuration
 * set events (eventType). Types without a recipient outcome (Send, Open, Click, ...) give none;
 * undefined means the Message is not SES's JSON.
 */
export function sesFeedback(
  message: string,
  snsMessageId: string,
  snsTimestamp: number,
): ProviderFeedback[] | undefined {
  const notification = parseObject(message);
  if (!notification) return undefined;
  const type = text(notification.notificationType) ?? text(notification.eventType);
  const mail = object(notification.mail);
  if (!type || !mail) return undefined;
  const outcomes = outcomesOf(type, notification, mail);
  const { gatewayMessageId, providerMessageId } = correlation(mail);
  return outcomes.map(({ recipient, kind, bounceClass, dropReason, detail, occurredAt }) => ({
    provider: SES_FEEDBACK_PROVIDER,
    eventId: eventIdOf(snsMessageId, recipient),
    kind,
    ...(bounceClass ? { bounceClass } : {}),
    ...(dropReason ? { dropReason } : {}),
    recipient,
    ...(gatewayMessageId ? { gatewayMessageId } : {}),
    ...(providerMessageId ? { providerMessageId } : {}),
    detail: detail.slice(0, MAX_DETAIL_LENGTH),
    occurredAt: epochMs(occurredAt) ?? snsTimestamp,
  }));
}

function outcomesOf(type: string, notification: Json, mail: Json): Outcome[] {
  switch (type) {
    case 'Bounce': {
      const bounce = object(notification.bounce) ?? {};
      const bounceType = text(bounce.bounceType) ?? 'Undetermined';
      const subType = text(bounce.bounceSubType) ?? '';
      return objects(bounce.bouncedRecipients).flatMap((entry): Outcome[] => {
        const recipient = address(entry.emailAddress);
        if (!recipient) return [];
        const status = text(entry.status) ?? '';
        const diagnostic = text(entry.diagnosticCode) ?? '';
        const detail = join(`SES bounce ${bounceType}/${subType}`, status, diagnostic);
        if (bounceType === 'Permanent' && SUPPRESSED_SUBTYPES.has(subType)) {
          // SES did not try: the address is on its suppression list (the account's or SES's own).
          return [
            {
              recipient,
              kind: 'dropped',
              dropReason: 'provider-list',
              detail,
              occurredAt: text(bounce.timestamp),
            },
          ];
        }
        return [
          {
            recipient,
            kind: 'bounce',
            bounceClass: bounceClass(bounceType, `${status} ${diagnostic}`),
            detail,
            occurredAt: text(bounce.timestamp),
          },
        ];
      });
    }
    case 'Complaint': {
      const complaint = object(notification.complaint) ?? {};
      const feedbackType = text(complaint.complaintFeedbackType);
      // The recipient's mail provider says the message was not spam after all.
      if (feedbackType === 'not-spam') return [];
      return objects(complaint.complainedRecipients).flatMap((entry) => {
        const recipient = address(entry.emailAddress);
        return recipient
          ? [
              {
                recipient,
                kind: 'complaint' as const,
                detail: join('SES complaint', feedbackType ?? ''),
                occurredAt: text(complaint.timestamp),
              },
            ]
          : [];
      });
    }
    case 'Delivery': {
      const delivery = object(notification.delivery) ?? {};
      const detail = join('SES delivery', text(delivery.smtpResponse) ?? '');
      return strings(delivery.recipients).flatMap((value) => {
        const recipient = address(value);
        return recipient
          ? [{ recipient, kind: 'delivered' as const, detail, occurredAt: text(delivery.timestamp) }]
          : [];
      });
    }
    case 'DeliveryDelay': {
      const delay = object(notification.deliveryDelay) ?? {};
      const delayType = text(delay.delayType) ?? '';
      return objects(delay.delayedRecipients).flatMap((entry) => {
        const recipient = address(entry.emailAddress);
        const detail = join(
          `SES delivery delay ${delayType}`,
          text(entry.status) ?? '',
          text(entry.diagnosticCode) ?? '',
        );
        return recipient
          ? [{ recipient, kind: 'deferred' as const, detail, occurredAt: text(delay.timestamp) }]
          : [];
      });
    }
    case 'Reject': {
      // SES refused the whole message (e.g. a virus): no recipient got it.
      const reject = object(notification.reject) ?? {};
      const detail = join('SES reject', text(reject.reason) ?? '');
      return strings(mail.destination).flatMap((value) => {
        const recipient = address(value);
        return recipient
          ? [{ recipient, kind: 'dropped' as const, detail, occurredAt: text(mail.timestamp) }]
          : [];
      });
    }
    default:
      return [];
  }
}

/**
 * `<MessageId>:<first 16 hex of sha256(recipient)>`: one id per recipient of the notification,
 * the same on every retry, and bounded (an address may be 254 octets, event_id holds 255).
 */
function eventIdOf(snsMessageId: string, recipient: string): string {
  const digest = createHash('sha256').update(recipient.toLowerCase(), 'utf8').digest('hex');
  return `${snsMessageId}:${digest.slice(0, 16)}`;
}

function bounceClass(bounceType: string, codes: string): BounceClass {
  if (POLICY_REFUSAL_STATUS.test(codes)) return 'undetermined';
  if (bounceType === 'Permanent') return 'hard';
  if (bounceType === 'Transient') return 'soft';
  return 'undetermined';
}

/**
 * The gateway's id from the X-Mailgateway-Message-Id header or the Message-ID the gateway wrote
 * (<gateway-id@domain>), as SES reports the original headers; SES's own id for the message always.
 */
function correlation(mail: Json): { gatewayMessageId?: string; providerMessageId?: string } {
  const header = objects(mail.headers).find(
    (entry) => text(entry.name)?.toLowerCase() === GATEWAY_MESSAGE_ID_HEADER.toLowerCase(),
  );
  const fromHeader = text(header?.value)?.trim();
  const fromMessageId = MESSAGE_ID.exec(text(object(mail.commonHeaders)?.messageId)?.trim() ?? '')?.[1];
  const gatewayMessageId = [fromHeader, fromMessageId].find((id) => id !== undefined && GATEWAY_ID.test(id));
  return { gatewayMessageId: gatewayMessageId?.toLowerCase(), providerMessageId: text(mail.messageId) };
}

function parseObject(value: string): Json | undefined {
  try {
    return object(JSON.parse(value));
  } catch {
    return undefined;
  }
}

function object(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function objects(value: unknown): Json[] {
  if (!Array.isArray(value)) return [];
  return (value as unknown[]).flatMap((entry): Json[] => {
    const found = object(entry);
    return found ? [found] : [];
  });
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The bare address, lowercased: SES may report "Name <a@b>" in destination. */
function address(value: unknown): string | undefined {
  const raw = text(value)?.trim();
  if (!raw) return undefined;
  const bracketed = /<([^<>]+)>\s*$/.exec(raw)?.[1] ?? raw;
  return bracketed.includes('@') ? bracketed.toLowerCase() : undefined;
}

function join(...parts: string[]): string {
  return parts.filter(Boolean).join(': ');
}

function epochMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
