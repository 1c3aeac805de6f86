import type { MessageEventEntity } from '../entities/message-event.entity';
import type { OutboxMessageEntity } from '../entities/outbox-message.entity';
import { MessageStatus } from '../message-status';
import { foldRecipientStates } from '../recipients/recipient-precedence';
import { RecipientState } from '../recipients/recipient-state';

/** One recipient of a message and where it stands. */
export interface MessageRecipient {
  /** Lowercased. */
  readonly address: string;
  readonly state: RecipientState;
  /** The last words on it; empty before any. */
  readonly detail: string;
  /** When it last changed state (epoch ms); null while nothing was heard about it alone. */
  readonly updatedAt: number | null;
  readonly provider: string | null;
}

interface StoredAddresses {
  to?: { address: string }[];
  cc?: { address: string }[];
  bcc?: { address: string }[];
}

/**
 * Every recipient of the message: to, cc, then bcc as stored, then addresses only its events name
 * (left out at accept, for one), each once. A recipient with RECIPIENT_* events stands where they
 * leave it; one without stands where the message does: sent once it is delivered, suppressed with
 * it, pending otherwise.
 */
export function listRecipients(
  message: Pick<OutboxMessageEntity, 'payload' | 'contentKeyId' | 'recipients' | 'status'>,
  events: readonly MessageEventEntity[],
): MessageRecipient[] {
  const outcomes = foldRecipientStates(events);
  const addresses = new Set([...storedAddresses(message), ...outcomes.keys()]);
  const standing = stateWithoutEvents(message.status);
  return [...addresses].map((address) => {
    const outcome = outcomes.get(address);
    return outcome
      ? { address, ...outcome }
      : { address, state: standing, detail: '', updatedAt: null, provider: null };
  });
}

/**
 * The to, cc and bcc addresses of a stored message, lowercased, in that order (repeats kept): its
 * recipients column; on a row stored before content was sealed, its plain payload; none once such
 * a row's content is shredded.
 */
export function storedAddresses(
  message: Pick<OutboxMessageEntity, 'payload' | 'contentKeyId' | 'recipients'>,
): string[] {
  if (message.recipients !== null) return JSON.parse(message.recipients) as string[];
  if (message.contentKeyId !== null || message.payload === '') return [];
  const stored = JSON.parse(message.payload) as StoredAddresses;
  return [...(stored.to ?? []), ...(stored.cc ?? []), ...(stored.bcc ?? [])].map(({ address }) =>
    address.toLowerCase(),
  );
}

function stateWithoutEvents(status: MessageStatus): RecipientState {
  if (status === MessageStatus.Delivered) return RecipientState.Sent;
  if (status === MessageStatus.Suppressed) return RecipientState.Suppressed;
  return RecipientState.Pending;
}
