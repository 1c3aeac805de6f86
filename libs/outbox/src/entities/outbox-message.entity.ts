import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { MessageStatus } from '../message-status';
import { bigintAsNumber } from '@mailgateway/database';

@Entity({ name: 'outbox_message' })
@Index('outbox_message_source_idempotency_key', ['source', 'idempotencyKey'], { unique: true })
@Index('outbox_message_provider_message_id', ['provider', 'providerMessageId'])
@Index('outbox_message_due', ['nextAttemptAt'], {
  where: "status IN ('scheduled', 'queued', 'sending', 'retrying')",
})
export class OutboxMessageEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 64 })
  source!: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  @Column({ name: 'content_hash', type: 'varchar', length: 64 })
  contentHash!: string;

  /**
   * The validated Mail as JSON (attachment bytes as base64), sealed with the message's data key;
   * plain JSON on rows stored before encryption (content_key_id null); empty once shredded.
   */
  @Column({ type: 'text' })
  payload!: string;

  /** The key-encryption key that wrapped the data key; null before encryption and once shredded. */
  @Column({ name: 'content_key_id', type: 'varchar', length: 64, nullable: true })
  contentKeyId!: string | null;

  /** The message's data key, wrapped by content_key_id; null before encryption and once shredded. */
  @Column({ name: 'wrapped_data_key', type: 'text', nullable: true })
  wrappedDataKey!: string | null;

  /**
   * The envelope recipients (to, cc, bcc as stored, lowercased) as a JSON array, kept after the
   * content is shredded; erased ones stand as their hash. Null on rows stored before encryption.
   */
  @Column({ type: 'text', nullable: true })
  recipients!: string | null;

  /** The From address, lowercased (its hash once erased); null when none was given or before encryption. */
  @Column({ type: 'varchar', length: 320, nullable: true })
  sender!: string | null;

  /** When the content was shredded (retention or erasure); null while it is kept. */
  @Column({ name: 'content_shredded_at', type: 'bigint', transformer: bigintAsNumber, nullable: true })
  contentShreddedAt!: number | null;

  @Column({ type: 'varchar', length: 16 })
  status!: MessageStatus;

  @Column({ type: 'integer' })
  attempts!: number;

  /** Attempts that do not count toward DELIVERY_MAX_ATTEMPTS: the fault was the gateway's own. */
  @Column({ name: 'spared_attempts', type: 'integer', default: 0 })
  sparedAttempts!: number;

  /** Fencing token: raised by every claim, so a stale attempt cannot record its outcome. */
  @Column({ name: 'lease_token', type: 'integer' })
  leaseToken!: number;

  /** The caller's send_at (epoch ms), as last rescheduled; null for a message sent at once. */
  @Column({ name: 'send_at', type: 'bigint', transformer: bigintAsNumber, nullable: true })
  sendAt!: number | null;

  /** Set when a cancel came during an attempt: that attempt may finish, but none follows it. */
  @Column({ name: 'cancel_requested_at', type: 'bigint', transformer: bigintAsNumber, nullable: true })
  cancelRequestedAt!: number | null;

  /** When the message is due: its send time, the next attempt, or while sending, when its lease runs out. */
  @Column({ name: 'next_attempt_at', type: 'bigint', transformer: bigintAsNumber })
  nextAttemptAt!: number;

  @Column({ name: 'accepted_at', type: 'bigint', transformer: bigintAsNumber })
  acceptedAt!: number;

  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintAsNumber })
  expiresAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;

  @Column({ type: 'varchar', length: 64, nullable: true })
  provider!: string | null;

  @Column({ name: 'provider_message_id', type: 'varchar', length: 255, nullable: true })
  providerMessageId!: string | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** The message's tags and metadata as JSON, for the event feed: `{"tags": [...], "metadata": {...}}`. */
  @Column({ type: 'text', nullable: true })
  labels!: string | null;

  /** W3C traceparent of the accepting call, for the upstream request; null when tracing is off. */
  @Column({ type: 'varchar', length: 55, nullable: true })
  traceparent!: string | null;
}
