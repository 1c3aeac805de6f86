import {
  CancelMessagesResult,
  GetMessageResponse,
  isAlreadyCancelled,
  RescheduleMessageResponse,
  SendMailResponse,
} from '@mailgateway/client';
import { formatTime, shortName } from './format';

/**
 * "accepted <id> at <time>", or "replayed ..." when the idempotency key was seen before; with
 * ", send at <time>" when it was sent for later, and "; suppressed: <address>, ..." when the
 * suppression list left recipients out.
 */
export function printAccepted(accepted: SendMailResponse, sendAt?: Date): void {
  const later =
    sendAt && sendAt.getTime() > Date.parse(formatTime(accepted.acceptedAt))
      ? `, send at ${sendAt.toISOString()}`
      : '';
  const suppressed =
    accepted.suppressedRecipients.length > 0
      ? `; suppressed: ${accepted.suppressedRecipients.join(', ')}`
      : '';
  console.log(
    `${accepted.replayed ? 'replayed' : 'accepted'} ${accepted.messageId} at ${formatTime(accepted.acceptedAt)}${later}${suppressed}`,
  );
}

/**
 * The message's status line (with its send time when it has one, and when its content was
 * shredded once it was), one "recipient <address>
 * <STATE>[: <detail>]" line per recipient, then one line per event (naming its recipient when it
 * is about one).
 */
export function printMessage(message: GetMessageResponse): void {
  console.log(
    `${message.messageId} ${shortName(message.status, 'MESSAGE_STATUS_')} ` +
      `(attempts: ${message.attempts}${message.provider ? `, provider: ${message.provider}` : ''}` +
      `${message.sendAt ? `, send at: ${formatTime(message.sendAt)}` : ''}` +
      `${message.contentShreddedAt ? `, content shredded at: ${formatTime(message.contentShreddedAt)}` : ''})`,
  );
  for (const recipient of message.recipients) {
    const state = shortName(recipient.state, 'RECIPIENT_STATE_');
    console.log(
      `  recipient ${recipient.address} ${state}${recipient.detail ? `: ${recipient.detail}` : ''}`,
    );
  }
  for (const event of message.events) {
    const type = shortName(event.type, 'MESSAGE_EVENT_TYPE_').padEnd(15);
    const about = event.recipient ? `${event.recipient}: ` : '';
    console.log(`  ${formatTime(event.occurredAt)}  ${type} ${about}${event.detail}`);
  }
}

/**
 * "cancelled <id> at <time>" or "<id> already CANCELLED" on stdout; "not cancelled <id>: <code>:
 * <reason>" on stderr.
 */
export function printCancelResult({ messageId, cancelled, rejected }: CancelMessagesResult): void {
  if (cancelled) console.log(`cancelled ${messageId} at ${formatTime(cancelled.cancelledAt)}`);
  else if (rejected && isAlreadyCancelled(rejected)) console.log(`${messageId} already CANCELLED`);
  else console.error(`not cancelled ${messageId}: ${rejected?.code}: ${rejected?.reason}`);
}

/** "rescheduled <id> for <time>: <status>" */
export function printRescheduled(rescheduled: RescheduleMessageResponse): void {
  console.log(
    `rescheduled ${rescheduled.messageId} for ${formatTime(rescheduled.sendAt)}: ` +
      shortName(rescheduled.status, 'MESSAGE_STATUS_'),
  );
}
