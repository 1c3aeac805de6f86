export { OutboxModule } from './outbox.module';
export { outboxConfig } from './outbox.settings';
export type { OutboxConfig } from './outbox.settings';
export { OUTBOX_SCHEMA } from './outbox.schema';
export { OutboxEnqueuer } from './enqueue/outbox-enqueuer';
export type { EnqueueRequest, EnqueueResult } from './enqueue/outbox-enqueuer';
export { OutboxOverloadedException } from './enqueue/outbox-overloaded.exception';
export {
  recipientAddresses,
  recipientCount,
  suppressedRecipientDetail,
  withoutRecipients,
} from './enqueue/suppressed-recipient';
export type { SuppressedRecipient } from './enqueue/suppressed-recipient';
export { OutboxLeases } from './leases/outbox-leases';
export type { AttemptOutcome, ClaimedMessage, RecipientRefusal } from './leases/outbox-leases';
export { OutboxSchedule } from './schedule/outbox-schedule';
export type { CancelResult, RescheduleResult, ScheduleRefusal } from './schedule/outbox-schedule';
export { OutboxHistory } from './history/outbox-history';
export type { MessageHistory } from './history/outbox-history';
export type { MessageRecipient } from './history/message-recipients';
export { OutboxMonitor } from './outbox-monitor';
export { OutboxFeed, FEED_FLOOR_STATE, formatPosition } from './feed/outbox-feed';
export type { FeedEventRecord, FeedFilter, FeedPage } from './feed/outbox-feed';
export { FEED_START, comparePositions } from './feed/feed-position';
export type { FeedPosition } from './feed/feed-position';
export { FeedSignal, FEED_CHANNEL } from './feed/feed-signal';
export { FeedCursors } from './feed/feed-cursors';
export { FeedPositionExpiredException } from './feed/feed-position-expired.exception';
export { InvalidCursorException } from './feed/invalid-cursor.exception';
export type { OutboxDepthReading } from './outbox-monitor';
export * from './message-status';
export { OutboxMessageEntity } from './entities/outbox-message.entity';
export { MessageEventEntity } from './entities/message-event.entity';
export { mailFingerprint } from './mail-payload';
export { RecipientState } from './recipients/recipient-state';
export { applyRecipientUpdates } from './recipients/recipient-outcomes';
export type { RecipientUpdate } from './recipients/recipient-outcomes';
export { foldRecipientStates, isSticky, supersedes } from './recipients/recipient-precedence';
export type { RecipientEventRow, RecipientOutcome } from './recipients/recipient-precedence';
export { findFeedbackMessage } from './lookup/feedback-message-lookup';
export type { FeedbackMessage, FeedbackMessageReference } from './lookup/feedback-message-lookup';
export { countSoftBounceStreak } from './recipients/soft-bounce-streak';
