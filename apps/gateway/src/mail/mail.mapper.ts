import {
  GetMessageResponse,
  MessageEventType as ProtoEventType,
  MessageStatus as ProtoStatus,
  RecipientState as ProtoRecipientState,
  SendMailResponse,
  Timestamp,
} from '@mailgateway/contracts';
import { MessageEventType, MessageHistory, MessageStatus, RecipientState } from '@mailgateway/outbox';

export const STATUS: Record<MessageStatus, ProtoStatus> = {
  [MessageStatus.Scheduled]: ProtoStatus.MESSAGE_STATUS_SCHEDULED,
  [MessageStatus.Queued]: ProtoStatus.MESSAGE_STATUS_QUEUED,
  [MessageStatus.Sending]: ProtoStatus.MESSAGE_STATUS_SENDING,
  [MessageStatus.Retrying]: ProtoStatus.MESSAGE_STATUS_RETRYING,
  [MessageStatus.Delivered]: ProtoStatus.MESSAGE_STATUS_DELIVERED,
  [MessageStatus.Failed]: ProtoStatus.MESSAGE_STATUS_FAILED,
  [MessageStatus.Expired]: ProtoStatus.MESSAGE_STATUS_EXPIRED,
  [MessageStatus.Cancelled]: ProtoStatus.MESSAGE_STATUS_CANCELLED,
  [MessageStatus.Suppressed]: ProtoStatus.MESSAGE_STATUS_SUPPRESSED,
};

export const EVENT_TYPE: Record<MessageEventType, ProtoEventType> = {
  [MessageEventType.Accepted]: ProtoEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
  [MessageEventType.AttemptStarted]: ProtoEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
  [MessageEventType.Delivered]: ProtoEventType.MESSAGE_EVENT_TYPE_DELIVERED,
  [MessageEventType.RetryScheduled]: ProtoEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED,
  [MessageEventType.Failed]: ProtoEventType.MESSAGE_EVENT_TYPE_FAILED,
  [MessageEventType.Expired]: ProtoEventType.MESSAGE_EVENT_TYPE_EXPIRED,
  [MessageEventType.Released]: ProtoEventType.MESSAGE_EVENT_TYPE_RELEASED,
  [MessageEventType.OutcomeUnknown]: ProtoEventType.MESSAGE_EVENT_TYPE_OUTCOME_UNKNOWN,
  [MessageEventType.Cancelled]: ProtoEventType.MESSAGE_EVENT_TYPE_CANCELLED,
  [MessageEventType.Rescheduled]: ProtoEventType.MESSAGE_EVENT_TYPE_RESCHEDULED,
  [MessageEventType.CancelRequested]: ProtoEventType.MESSAGE_EVENT_TYPE_CANCEL_REQUESTED,
  [MessageEventType.RecipientRefused]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_REFUSED,
  [MessageEventType.RecipientDelivered]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_DELIVERED,
  [MessageEventType.RecipientDeferred]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_DEFERRED,
  [MessageEventType.RecipientBounced]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_BOUNCED,
  [MessageEventType.RecipientComplained]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_COMPLAINED,
  [MessageEventType.RecipientUnsubscribed]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_UNSUBSCRIBED,
  [MessageEventType.RecipientDropped]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_DROPPED,
  [MessageEventType.RecipientSuppressed]: ProtoEventType.MESSAGE_EVENT_TYPE_RECIPIENT_SUPPRESSED,
  [MessageEventType.Suppressed]: ProtoEventType.MESSAGE_EVENT_TYPE_SUPPRESSED,
};

export const RECIPIENT_STATE: Record<RecipientState, ProtoRecipientState> = {
  [RecipientState.Pending]: ProtoRecipientState.RECIPIENT_STATE_PENDING,
  [RecipientState.Sent]: ProtoRecipientState.RECIPIENT_STATE_SENT,
  [RecipientState.Delivered]: ProtoRecipientState.RECIPIENT_STATE_DELIVERED,
  [RecipientState.Deferred]: ProtoRecipientState.RECIPIENT_STATE_DEFERRED,
  [RecipientState.BouncedHard]: ProtoRecipientState.RECIPIENT_STATE_BOUNCED_HARD,
  [RecipientState.BouncedSoft]: ProtoRecipientState.RECIPIENT_STATE_BOUNCED_SOFT,
  [RecipientState.BouncedUndetermined]: ProtoRecipientState.RECIPIENT_STATE_BOUNCED_UNDETERMINED,
  [RecipientState.Complained]: ProtoRecipientState.RECIPIENT_STATE_COMPLAINED,
  [RecipientState.Unsubscribed]: ProtoRecipientState.RECIPIENT_STATE_UNSUBSCRIBED,
  [RecipientState.Dropped]: ProtoRecipientState.RECIPIENT_STATE_DROPPED,
  [RecipientState.Suppressed]: ProtoRecipientState.RECIPIENT_STATE_SUPPRESSED,
  [RecipientState.Refused]: ProtoRecipientState.RECIPIENT_STATE_REFUSED,
};

const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A message id as SendMail answers it: a lowercase UUID. */
export function isMessageId(value: string): boolean {
  return MESSAGE_ID.test(value);
}

export function toTimestamp(epochMillis: number): Timestamp {
  return { seconds: Math.floor(epochMillis / 1000), nanos: (epochMillis % 1000) * 1_000_000 };
}

export function toSendMailResponse(
  messageId: string,
  acceptedAt: number,
  replayed: boolean,
  suppressedRecipients: readonly string[] = [],
): SendMailResponse {
  return {
    messageId,
    acceptedAt: toTimestamp(acceptedAt),
    replayed,
    suppressedRecipients: [...suppressedRecipients],
  };
}

export function toGetMessageResponse({ message, events, recipients }: MessageHistory): GetMessageResponse {
  return {
    messageId: message.id,
    status: STATUS[message.status],
    acceptedAt: toTimestamp(message.acceptedAt),
    updatedAt: toTimestamp(message.updatedAt),
    attempts: message.attempts,
    provider: message.provider ?? '',
    providerMessageId: message.providerMessageId ?? '',
    sendAt: message.sendAt === null ? undefined : toTimestamp(message.sendAt),
    contentShreddedAt:
      message.contentShreddedAt === null ? undefined : toTimestamp(message.contentShreddedAt),
    recipients: recipients.map((recipient) => ({
      address: recipient.address,
      state: RECIPIENT_STATE[recipient.state],
      detail: recipient.detail,
      updatedAt: recipient.updatedAt === null ? undefined : toTimestamp(recipient.updatedAt),
    })),
    events: events.map((event) => ({
      sequence: event.sequence,
      type: EVENT_TYPE[event.type],
      occurredAt: toTimestamp(event.occurredAt),
      attempt: event.attempt,
      detail: event.detail,
      provider: event.provider ?? '',
      recipient: event.recipient ?? '',
    })),
  };
}
