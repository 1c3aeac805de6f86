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
    // ... nor a soft bounce, which would count toward a soft-bounce streak
    [
      { bounceClass: 'soft', detail: 'SoftBounce 550 5.7.1 blocked' },
      RecipientState.BouncedUndetermined,
      null,
    ],
    [
      { bounceClass: 'soft', detail: 'blocked 421-4.7.28 unusual rate of unsolicited mail' },
      RecipientState.BouncedUndetermined,
      null,
    ],
    [{ bounceClass: 'soft', detail: '4.7.0 try later' }, RecipientState.BouncedUndetermined, null],
    [{ bounceClass: 'hard', detail: '250 2.7.0 x' }, RecipientState.BouncedUndetermined, null],
    [{ bounceClass: 'soft', detail: 'Spam Notification' }, RecipientState.BouncedUndetermined, null],
    // other codes that merely contain a 7 are what the provider says they are
    [{ bounceClass: 'soft', detail: '452 4.2.7 quota' }, RecipientState.BouncedSoft, null],
    [
      { bounceClass: 'hard', detail: '550 5.1.7 bad sender' },
      RecipientState.BouncedHard,
      SuppressionReason.HardBounce,
    ],
    [{ bounceClass: 'soft', detail: 'host 10.4.7.2 timed out' }, RecipientState.BouncedSoft, null],
    [{ kind: 'complaint' }, RecipientState.Complained, SuppressionReason.Complaint],
    [{ kind: 'unsubscribe' }, RecipientState.Unsubscribed, SuppressionReason.Unsubscribe],
    [{ kind: 'dropped' }, RecipientState.Dropped, null],
    [{ kind: 'dropped', dropReason: 'other' }, RecipientState.Dropped, null],
    // the provider's own suppression list: the address bounced or complained there
    [{ kind: 'dropped', dropReason: 'provider-list' }, RecipientState.Dropped, SuppressionReason.Provider],
    [{ kind: 'dropped', dropReason: 'unsubscribed' }, RecipientState.Dropped, SuppressionReason.Unsubscribe],
  ])('%p puts the recipient in %s (suppressed for: %s)', (fields, state, reason) => {
    const given = feedback(fields);
    expect(recipientStateOf(given)).toBe(state);
    expect(suppressionReasonOf(state, given.dropReason)).toBe(reason);
  });
});
