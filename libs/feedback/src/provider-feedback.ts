/** What a provider says happened to one recipient of one message. */
export type FeedbackKind = 'delivered' | 'deferred' | 'bounce' | 'complaint' | 'unsubscribe' | 'dropped';

/**
 * How a bounce should be read. hard: the address does not exist (5.1.x, a provider's "hard"/
 * "permanent" class) and is suppressed. soft: temporary (mailbox full). undetermined: the provider
 * could not say, or a reputation or policy refusal (x.7.x) or a "spam notification" bounce: the
 * address is not suppressed for it.
 */
export type BounceClass = 'hard' | 'soft' | 'undetermined';

/**
 * An enhanced status code of class 7 (security or policy: reputation, authentication, spam
 * filters), permanent or temporary (5.7.1, 4.7.28): a refusal of the sender, not of the address.
 * A bounce that carries one is undetermined, never hard nor soft.
 */
export const POLICY_REFUSAL_STATUS = /(?:^|[^\d.])[245]\.7\.\d{1,3}(?![\d.])/;

/**
 * Why the provider dropped an address without trying. provider-list: the address is on the
 * provider's own suppression list (it bounced or complained there), unsubscribed: the recipient
 * unsubscribed at the provider; other: anything else (an invalid address, ...), which suppresses
 * nothing.
 */
export type DropReason = 'provider-list' | 'unsubscribed' | 'other';

/**
 * One provider notification, verified and normalised: the unit of intake. Stored once per
 * (provider, eventId); processed later, idempotently.
 */
export interface ProviderFeedback {
  /** The driver name the notification is about: "sendgrid", "postmark", "smtp" (SES), "http", "flowmailer". */
  readonly provider: string;
  /** The provider's own id for this notification (sg_event_id, SNS MessageId, webhook-id, ...). */
  readonly eventId: string;
  readonly kind: FeedbackKind;
  /** For a bounce. */
  readonly bounceClass?: BounceClass;
  /** For a drop; absent counts as other. */
  readonly dropReason?: DropReason;
  /** Lowercased. */
  readonly recipient: string;
  /** The gateway's message id, when the provider echoes what the driver sent (custom args, metadata, header). */
  readonly gatewayMessageId?: string;
  /** The provider's id for the message, as recorded at delivery (outbox_message.provider_message_id). */
  readonly providerMessageId?: string;
  /** The provider's words (SMTP status and diagnostic), for the event's detail; never the message content. */
  readonly detail: string;
  /** When the provider says it happened (epoch ms). */
  readonly occurredAt: number;
}
