import { EventFilter, FeedEvent, MessageEventType as ProtoEventType } from '@mailgateway/contracts';
import { FeedEventRecord, FeedFilter, MessageEventType } from '@mailgateway/outbox';
import { ValidationException } from '@mailgateway/validation';
import { EVENT_TYPE, isMessageId, toTimestamp } from '../mail/mail.mapper';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
const MAX_FILTER_TYPES = 16;

const TYPE_OF_PROTO = new Map<ProtoEventType, MessageEventType>(
  Object.entries(EVENT_TYPE).map(([type, proto]) => [proto, type as MessageEventType]),
);

/** The filter a request names, checked field by field. */
export function toFeedFilter(filter: EventFilter | undefined): FeedFilter {
  const types = (filter?.types ?? []).map((proto, index) => {
    const type = TYPE_OF_PROTO.get(proto);
    if (!type) throw new ValidationException(`filter.types[${index}]`, 'not a known event type');
    return type;
  });
  const distinct = [...new Set(types)];
  if (distinct.length > MAX_FILTER_TYPES) {
    throw new ValidationException('filter.types', `at most ${MAX_FILTER_TYPES} types`);
  }
  const messageId = filter?.messageId ?? '';
  if (messageId && !isMessageId(messageId)) {
    throw new ValidationException('filter.message_id', 'must be a message id (a UUID)');
  }
  return { types: distinct, messageId: messageId || null };
}

export function toPageSize(pageSize: number): number {
  if (pageSize === 0) return DEFAULT_PAGE_SIZE;
  if (pageSize > MAX_PAGE_SIZE) {
    throw new ValidationException('page_size', `${pageSize} is above the limit of ${MAX_PAGE_SIZE}`);
  }
  return pageSize;
}

export function toFeedEvent(record: FeedEventRecord): FeedEvent {
  return {
    eventId: String(record.sequence),
    messageId: record.messageId,
    type: EVENT_TYPE[record.type],
    attempt: record.attempt,
    occurredAt: toTimestamp(record.occurredAt),
    recordedAt: toTimestamp(record.recordedAt),
    detail: record.detail,
    provider: record.provider ?? '',
    recipient: record.recipient ?? '',
    tags: [...record.tags],
    metadata: { ...record.metadata },
    sendAt: record.sendAt === null ? undefined : toTimestamp(record.sendAt),
  };
}
