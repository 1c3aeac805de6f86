import { RecipientState } from '@mailgateway/outbox';
import { SuppressionReason } from '@mailgateway/suppression';
import type { ProviderFeedback } from '../provider-feedback';

/** An enhanced status code of class 5.7 (policy, reputation): a refusal of the sender, not of the address. */
const POLICY_REFUSAL = /\b5\.7\.\d{1,3}\b/;
const SPAM_NOTIFICATION = /spam notification/i;

/**
 * Whether a bounce the provider calls hard is one: a policy or reputation refusal (5.7.x) or a
 * "spam notification" says nothing about the address, and must never suppress it. The parsers
 * already classify those as undetermined; this holds should one not.
 */
function isHardBounce(feedback: ProviderFeedback): boolean {
  return (
    feedback.bounceClass === 'hard' &&
    !POLICY_REFUSAL.test(feedback.detail) &&
    !SPAM_NOTIFICATION.test(feedback.detail)
  );
}

/** The state a notification puts its recipient in. */
export function recipientStateOf(feedback: ProviderFeedback): RecipientState {
  switch (feedback.kind) {
    case 'delivered':
      return RecipientState.Delivered;
    case 'deferred':
      return RecipientState.Deferred;
    case 'bounce':
      if (isHardBounce(feedback)) return RecipientState.BouncedHard;
      return feedback.bounceClass === 'soft'
        ? RecipientState.BouncedSoft
        : RecipientState.BouncedUndetermined;
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
 */
export function suppressionReasonOf(state: RecipientState): SuppressionReason | null {
  if (state === RecipientState.BouncedHard) return SuppressionReason.HardBounce;
  if (state === RecipientState.Complained) return SuppressionReason.Complaint;
  if (state === RecipientState.Unsubscribed) return SuppressionReason.Unsubscribe;
  return null;
}
