/** Where a message stands. The first four are active; the rest are final and never change again. */
export enum MessageStatus {
  /** Waiting for its send_at. */
  Scheduled = 'scheduled',
  Queued = 'queued',
  Sending = 'sending',
  Retrying = 'retrying',
  Delivered = 'delivered',
  Failed = 'failed',
  Expired = 'expired',
  Cancelled = 'cancelled',
  Suppressed = 'suppressed',
}

export const ACTIVE_STATUSES: readonly MessageStatus[] = [
  MessageStatus.Scheduled,
  MessageStatus.Queued,
  MessageStatus.Sending,
  MessageStatus.Retrying,
];

export type FinalStatus =
  | MessageStatus.Delivered
  | MessageStatus.Failed
  | MessageStatus.Expired
  | MessageStatus.Cancelled
  | MessageStatus.Suppressed;

export enum MessageEventType {
  Accepted = 'accepted',
  AttemptStarted = 'attempt_started',
  Delivered = 'delivered',
  RetryScheduled = 'retry_scheduled',
  Failed = 'failed',
  Expired = 'expired',
  Released = 'released',
  OutcomeUnknown = 'outcome_unknown',
  Cancelled = 'cancelled',
  Rescheduled = 'rescheduled',
  CancelRequested = 'cancel_requested',
  RecipientRefused = 'recipient_refused',
  RecipientDelivered = 'recipient_delivered',
  RecipientDeferred = 'recipient_deferred',
  RecipientBounced = 'recipient_bounced',
  RecipientComplained = 'recipient_complained',
  RecipientUnsubscribed = 'recipient_unsubscribed',
  RecipientDropped = 'recipient_dropped',
  RecipientSuppressed = 'recipient_suppressed',
  Suppressed = 'suppressed',
}

/** Active and not held by an attempt: what a cancel or a new send time may still change. */
export const WAITING_STATUSES: readonly MessageStatus[] = [
  MessageStatus.Scheduled,
  MessageStatus.Queued,
  MessageStatus.Retrying,
];
