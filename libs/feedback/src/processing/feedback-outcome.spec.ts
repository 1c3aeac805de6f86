import { RecipientState } from '@mailgateway/outbox';
import { SuppressionReason } from '@mailgateway/suppression';
import type { ProviderFeedback } from '../provider-feedback';
import { recipientStateOf, suppressionReasonOf } from './feedback-outcome';

function feedback(fields: Partial<ProviderFeedback>): ProviderFeedback {
  return {
    provider: 'sendgrid',
    eventId: 'e-1',
    kind: 'bounce',
    recipient: 'ann@example.com',
    detail: '',
    occurredAt: 1_000,
    ...fields,
  };
}

describe(recipientStateOf.name, () => {
  it.each<[Partial<ProviderFeedback>, RecipientState, SuppressionReason | null]>([
    [{ kind: 'delivered' }, RecipientState.Delivered, null],
    [{ kind: 'deferred' }, RecipientState.Deferred, null],
    [
      { bounceClass: 'hard', detail: '550 5.1.1 no such user' },
      RecipientState.BouncedHard,
      SuppressionReason.HardBounce,
    ],
    [{ bounceClass: 'soft', detail: '452 4.2.2 mailbox full' }, RecipientState.BouncedSoft, null],
    [{ bounceClass: 'undetermined' }, RecipientState.BouncedUndetermined, null],
    [{}, RecipientState.BouncedUndetermined, null],
    // a refusal of the sender (policy, reputation) is never a reason to suppress the address
    [
      { bounceClass: 'hard', detail: '550 5.7.1 rejected by policy' },
      RecipientState.BouncedUndetermined,
      null,
    ],
    [{ bounceClass: 'hard', detail: '550 5.7.26 DMARC' }, RecipientState.BouncedUndetermined, null],
    [{ bounceClass: 'hard', detail: 'Spam Notification' }, RecipientState.BouncedUndetermined, null],
    [{ kind: 'complaint' }, RecipientState.Complained, SuppressionReason.Complaint],
    [{ kind: 'unsubscribe' }, RecipientState.Unsubscribed, SuppressionReason.Unsubscribe],
    [{ kind: 'dropped' }, RecipientState.Dropped, null],
  ])('%p puts the recipient in %s (suppressed for: %s)', (fields, state, reason) => {
    expect(recipientStateOf(feedback(fields))).toBe(state);
    expect(suppressionReasonOf(state)).toBe(reason);
  });
});
