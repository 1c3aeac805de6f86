import { MessageEventType } from '../message-status';
import { RecipientState } from './recipient-state';

/** The states a RECIPIENT_* event can record; pending and sent are only ever derived. */
export type RecordedRecipientState = Exclude<RecipientState, RecipientState.Pending | RecipientState.Sent>;

const EVENT_TYPE: Record<RecordedRecipientState, MessageEventType> = {
  [RecipientState.Delivered]: MessageEventType.RecipientDelivered,
  [RecipientState.Deferred]: MessageEventType.RecipientDeferred,
  [RecipientState.BouncedHard]: MessageEventType.RecipientBounced,
  [RecipientState.BouncedSoft]: MessageEventType.RecipientBounced,
  [RecipientState.BouncedUndetermined]: MessageEventType.RecipientBounced,
  [RecipientState.Complained]: MessageEventType.RecipientComplained,
  [RecipientState.Unsubscribed]: MessageEventType.RecipientUnsubscribed,
  [RecipientState.Dropped]: MessageEventType.RecipientDropped,
  [RecipientState.Suppressed]: MessageEventType.RecipientSuppressed,
  [RecipientState.Refused]: MessageEventType.RecipientRefused,
};

/**
 * One RECIPIENT_BOUNCED type covers three states: the class leads the event's detail
 * ("hard: 550 5.1.1 ..."), which keeps it readable in the feed and recoverable when folding.
 */
const BOUNCE_PREFIX: Partial<Record<RecipientState, string>> = {
  [RecipientState.BouncedHard]: 'hard: ',
  [RecipientState.BouncedSoft]: 'soft: ',
  [RecipientState.BouncedUndetermined]: 'undetermined: ',
};

const STATE_OF_TYPE = new Map<MessageEventType, RecordedRecipientState>(
  (Object.entries(EVENT_TYPE) as [RecordedRecipientState, MessageEventType][])
    .filter(([, type]) => type !== MessageEventType.RecipientBounced)
    .map(([state, type]) => [type, state]),
);

export function isRecordedState(state: RecipientState): state is RecordedRecipientState {
  return state in EVENT_TYPE;
}

/** The event type and detail that record a recipient's new state. */
export function toRecipientEvent(
  state: RecordedRecipientState,
  detail: string,
): { type: MessageEventType; detail: string } {
  return { type: EVENT_TYPE[state], detail: `${BOUNCE_PREFIX[state] ?? ''}${detail}` };
}

/** The state an event records and its detail as the provider gave it; null for other events. */
export function fromRecipientEvent(
  type: MessageEventType,
  detail: string,
): { state: RecordedRecipientState; detail: string } | null {
  if (type === MessageEventType.RecipientBounced) {
    for (const state of [RecipientState.BouncedHard, RecipientState.BouncedSoft] as const) {
      const prefix = BOUNCE_PREFIX[state]!;
      if (detail.startsWith(prefix)) return { state, detail: detail.slice(prefix.length) };
    }
    // Without a known class a bounce is what the provider could not classify either.
    const prefix = BOUNCE_PREFIX[RecipientState.BouncedUndetermined]!;
    return {
      state: RecipientState.BouncedUndetermined,
      detail: detail.startsWith(prefix) ? detail.slice(prefix.length) : detail,
    };
  }
  const state = STATE_OF_TYPE.get(type);
  return state === undefined ? null : { state, detail };
}
