import { RecipientState } from '@mailgateway/outbox';
import { SuppressionReason } from '@mailgateway/suppression';
import { POLICY_REFUSAL_STATUS, type ProviderFeedback } from '../provider-feedback';

const SPAM_NOTIFICATION = /spam notification/i;

/**
 * Whether a bounce is a policy or reputation refusal (x.7.x) or a "spam notification": it says
 * nothing about the address, so it is never hard nor soft (a soft one would count toward a
 * soft-bounce streak) and never suppresses. The parsers already classify those as undetermined;
 * this holds should one not.
 */
function isPolicyRefusal(feedback: ProviderFeedback): boolean {
  return POLICY_REFUSAL_STATUS.test(feedback.detail) || SPAM_NOTIFICATION.test(feedback.detail);
}

/** The state a notification puts its recipient in. */
export function recipientStateOf(feedback: ProviderFeedback): RecipientState {
  switch (feedback.kind) {
    case 'delivered':
      return RecipientState.Delivered;
    case 'deferred':
      return RecipientState.Deferred;
    case 'bounce':
      if (isPolicyRefusal(feedback)) return RecipientState.BouncedUndetermined;
      if (feedback.bounceClass === 'hard') return RecipientState.BouncedHard;
      if (feedback.bounceClass === 'soft') return RecipientState.BouncedSoft;
      return RecipientState.BouncedUndetermined;
    case 'complaint':
      return RecipientState.Complained;
    case 'unsubscribe':
      return RecipientState.Unsubscribed;
    case 'dropped':
      return RecipientState.Dropped;
  }
}

/**
 * Why the notification by itself puts its recipient on the suppression list, or null. Soft
 * bounces suppress only as a streak (SUPPRESSION_SOFT_BOUNCE_LIMIT), which the processor counts.
 * A drop suppresses only when the provider dropped the address for its own list (an unsubscribe
 * there counts as one); a drop for any other reason (an invalid address, ...) suppresses nothing.
 */
export function suppressionReasonOf(
  state: RecipientState,
  dropReason?: ProviderFeedback['dropReason'],
): SuppressionReason | null {
  if (state === RecipientState.BouncedHard) return SuppressionReason.HardBounce;
  if (state === RecipientState.Complained) return SuppressionReason.Complaint;
  if (state === RecipientState.Unsubscribed) return SuppressionReason.Unsubscribe;
  if (state === RecipientState.Dropped && dropReason === 'provider-list') return SuppressionReason.Provider;
  if (state === RecipientState.Dropped && dropReason === 'unsubscribed') return SuppressionReason.Unsubscribe;
  return null;
}
