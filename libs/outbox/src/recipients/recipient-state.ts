/**
 * Where one recipient of a message stands. The sticky states (complained, unsubscribed, bounced
 * hard, dropped, suppressed, refused) are never undone by a later notification; among the others
 * the latest by the provider's own time wins.
 */
export enum RecipientState {
  Pending = 'pending',
  Sent = 'sent',
  Delivered = 'delivered',
  Deferred = 'deferred',
  BouncedHard = 'bounced_hard',
  BouncedSoft = 'bounced_soft',
  BouncedUndetermined = 'bounced_undetermined',
  Complained = 'complained',
  Unsubscribed = 'unsubscribed',
  Dropped = 'dropped',
  Suppressed = 'suppressed',
  Refused = 'refused',
}
