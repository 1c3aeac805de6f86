import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

/** Where a stored notification stands in processing. */
export enum NotificationState {
  /** Waiting to be applied (or to be matched again: it came before its message's provider id). */
  Pending = 'pending',
  /** Applied to its message's recipients (or found to change nothing). */
  Processed = 'processed',
  /** No message matched it within FEEDBACK_MATCH_WINDOW_MS: kept for the record, never applied. */
  Unmatched = 'unmatched',
}

/**
 * One verified provider notification, stored once per (provider, event id) before the provider
 * hears 2xx, then processed in the background. Holds the normalised ProviderFeedback, never the
 * request body.
 */
@Entity({ name: 'provider_notification' })
@Index('provider_notification_due', ['state', 'nextAttemptAt'])
export class ProviderNotificationEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  provider!: string;

  @PrimaryColumn({ name: 'event_id', type: 'varchar', length: 255 })
  eventId!: string;

  /** The ProviderFeedback as JSON. */
  @Column({ type: 'text' })
  feedback!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: NotificationState;

  /** Processing attempts so far. */
  @Column({ type: 'integer' })
  attempts!: number;

  /** When a pending notification is next due for processing (epoch ms). */
  @Column({ name: 'next_attempt_at', type: 'bigint', transformer: bigintAsNumber })
  nextAttemptAt!: number;

  /** The message it was matched to, once it was. */
  @Column({ name: 'message_id', type: 'varchar', length: 36, nullable: true })
  messageId!: string | null;

  @Column({ name: 'received_at', type: 'bigint', transformer: bigintAsNumber })
  receivedAt!: number;

  @Column({ name: 'processed_at', type: 'bigint', transformer: bigintAsNumber, nullable: true })
  processedAt!: number | null;
}
