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
export { OutboxContentKeys } from './content/outbox-content-keys';
export type { RewrapResult } from './content/outbox-content-keys';
export { OutboxLeases } from './leases/outbox-leases';
export type { AttemptOutcome, ClaimedMessage, RecipientRefusal } from './leases/outbox-leases';
export { OutboxSchedule } from './schedule/outbox-schedule';
export type { CancelResult, RescheduleResult, ScheduleRefusal } from './schedule/outbox-schedule';
export { OutboxHistory } from './history/outbox-history';
export type { MessageHistory } from './history/outbox-history';
export type { MessageRecipient } from './history/message-recipients';
export { OutboxMonitor } from './outbox-monitor';
export { OutboxFeed, FEED_FLOOR_STATE, formatPosition, sourceFloorState } from './feed/outbox-feed';
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
export { insertEvents } from './event-rows';
export type { NewEvent } from './event-rows';
export { storedAddresses } from './history/message-recipients';
export { retentionConfig, MAX_RETENTION_MS, MIN_HISTORY_RETENTION_MS } from './retention/retention.settings';
export type { RetentionConfig } from './retention/retention.settings';
export { MessageRetention } from './retention/message-retention';
export type { PurgedMessages } from './retention/message-retention';
export { RetentionLoop } from './retention/retention-loop';
export type { RetentionRound } from './retention/retention-loop';
export { RETENTION_SWEEPS } from './retention/retention-sweep';
export type { RetentionSweep } from './retention/retention-sweep';
export { SOURCE_RETENTION_POLICIES, retentionInForce } from './retention/source-retention';
export type {
  SourceRetention,
  SourceRetentionOverride,
  SourceRetentionPolicies,
} from './retention/source-retention';
