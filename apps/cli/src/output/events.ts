import { FeedEvent, Timestamp } from '@mailgateway/client';
import { formatTime, shortName } from './format';

/** One line per event: when, which message, what, which attempt ("-" outside one), and the detail. */
export function printEvent(event: FeedEvent): void {
  const type = shortName(event.type, 'MESSAGE_EVENT_TYPE_').padEnd(15);
  const attempt = (event.attempt ? `#${event.attempt}` : '-').padEnd(3);
  console.log(`${formatTime(event.occurredAt)}  ${event.messageId}  ${type} ${attempt} ${event.detail}`);
}

/** One JSON object per line, with the contract's field names and times in ISO 8601. */
export function printEventJson(event: FeedEvent): void {
  const time = (timestamp: Timestamp | undefined) => (timestamp ? formatTime(timestamp) : null);
  console.log(
    JSON.stringify({
      eventId: event.eventId,
      messageId: event.messageId,
      type: event.type,
      attempt: event.attempt,
      occurredAt: time(event.occurredAt),
      recordedAt: time(event.recordedAt),
      detail: event.detail,
      tags: event.tags,
      metadata: event.metadata,
      sendAt: time(event.sendAt),
    }),
  );
}
