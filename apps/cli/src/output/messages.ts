import { GetMessageResponse, SendMailResponse } from '@mailgateway/client';
import { formatTime, shortName } from './format';

/** "accepted <id> at <time>", or "replayed ..." when the idempotency key was seen before. */
export function printAccepted(accepted: SendMailResponse): void {
  console.log(
    `${accepted.replayed ? 'replayed' : 'accepted'} ${accepted.messageId} at ${formatTime(accepted.acceptedAt)}`,
  );
}

/** The message's status line, then one line per event of its history. */
export function printMessage(message: GetMessageResponse): void {
  console.log(
    `${message.messageId} ${shortName(message.status, 'MESSAGE_STATUS_')} ` +
      `(attempts: ${message.attempts}${message.provider ? `, provider: ${message.provider}` : ''})`,
  );
  for (const event of message.events) {
    const type = shortName(event.type, 'MESSAGE_EVENT_TYPE_').padEnd(15);
    console.log(`  ${formatTime(event.occurredAt)}  ${type} ${event.detail}`);
  }
}
