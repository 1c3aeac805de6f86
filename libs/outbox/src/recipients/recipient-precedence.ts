import type { MessageEventType } from '../message-status';
import { fromRecipientEvent } from './recipient-events';
import { RecipientState } from './recipient-state';

/** Where one recipient stands according to its message's RECIPIENT_* events. */
export interface RecipientOutcome {
  readonly state: RecipientState;
  /** The last words on it: the provider's diagnostic, the suppression's reason. */
  readonly detail: string;
  /** When it happened (epoch ms), by the provider's clock for feedback. */
  readonly updatedAt: number;
  readonly provider: string | null;
}

/** The fields of a message_event row the fold reads. */
export interface RecipientEventRow {
  readonly type: MessageEventType;
  readonly detail: string;
  readonly occurredAt: number;
  readonly provider: string | null;
  readonly recipient: string | null;
}

/**
 * Sticky states, strongest first. Nothing non-sticky undoes them, and one replaces another only
 * when stronger: a complaint says most about what the person wants, a drop, a suppression and a
 * relay's refusal say the same (this address was not mailed) and rank alike.
 */
const STICKY_RANK: Partial<Record<RecipientState, number>> = {
  [RecipientState.Complained]: 4,
  [RecipientState.Unsubscribed]: 3,
  [RecipientState.BouncedHard]: 2,
  [RecipientState.Dropped]: 1,
  [RecipientState.Suppressed]: 1,
  [RecipientState.Refused]: 1,
};

export function isSticky(state: RecipientState): boolean {
  return STICKY_RANK[state] !== undefined;
}

/**
 * Whether an update moves a recipient from where it stands (undefined: nothing recorded yet).
 * Non-sticky states (delivered, deferred, soft and undetermined bounces) follow the provider's
 * clock: the later one wins, and at the same instant an outcome beats "still trying". The same
 * state again is no change, so a duplicate changes nothing.
 */
export function supersedes(
  current: Pick<RecipientOutcome, 'state' | 'updatedAt'> | undefined,
  update: { readonly state: RecipientState; readonly occurredAt: number },
): boolean {
  if (current === undefined) return true;
  if (current.state === update.state) return false;
  const currentRank = STICKY_RANK[current.state];
  const updateRank = STICKY_RANK[update.state];
  if (currentRank !== undefined) return updateRank !== undefined && updateRank > currentRank;
  if (updateRank !== undefined) return true;
  if (update.occurredAt !== current.updatedAt) return update.occurredAt > current.updatedAt;
  return current.state === RecipientState.Deferred;
}

/**
 * Folds a message's events, in the order they were recorded, into each recipient's outcome
 * (keyed by lowercased address). Events about the whole message are skipped.
 */
export function foldRecipientStates(events: Iterable<RecipientEventRow>): Map<string, RecipientOutcome> {
  const outcomes = new Map<string, RecipientOutcome>();
  for (const event of events) {
    if (!event.recipient) continue;
    const recorded = fromRecipientEvent(event.type, event.detail);
    if (recorded === null) continue;
    const address = event.recipient.toLowerCase();
    const current = outcomes.get(address);
    if (!supersedes(current, { state: recorded.state, occurredAt: event.occurredAt })) continue;
    outcomes.set(address, {
      state: recorded.state,
      detail: recorded.detail,
      updatedAt: event.occurredAt,
      provider: event.provider,
    });
  }
  return outcomes;
}
