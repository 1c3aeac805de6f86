/** Where a message stands. The first three are active; the rest are final and never change again. */
export enum MessageStatus {
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
}
