import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { MessageEventType } from '../message-status';
import { bigintAsNumber } from '@mailgateway/database';

/**
 * Append-only history of a message. The sequence orders one message's history; a source's feed is
 * ordered by (commitXid, sequence), see OutboxFeed.
 */
@Entity({ name: 'message_event' })
@Index('message_event_message_id', ['messageId', 'sequence'])
@Index('message_event_recipient', ['recipient', 'occurredAt'], { where: 'recipient IS NOT NULL' })
@Index('message_event_feed', ['source', 'commitXid', 'sequence'])
export class MessageEventEntity {
  @PrimaryColumn({ type: 'bigint', generated: 'increment', transformer: bigintAsNumber })
  sequence!: number;

  @Column({ name: 'message_id', type: 'varchar', length: 36 })
  messageId!: string;

  @Column({ type: 'varchar', length: 64 })
  source!: string;

  /** PostgreSQL: the id of the transaction that wrote the event, set by the database. SQLite: 0. */
  @Column({ name: 'commit_xid', type: 'bigint', transformer: bigintAsNumber, insert: false })
  commitXid!: number;

  @Column({ type: 'varchar', length: 32 })
  type!: MessageEventType;

  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'text' })
  detail!: string;

  /** The driver that handled the attempt, on the events that end one; null otherwise. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  provider!: string | null;

  /** The recipient address the event is about; null for events about the whole message. */
  @Column({ type: 'varchar', length: 320, nullable: true })
  recipient!: string | null;

  @Column({ name: 'occurred_at', type: 'bigint', transformer: bigintAsNumber })
  occurredAt!: number;

  @Column({ name: 'recorded_at', type: 'bigint', transformer: bigintAsNumber })
  recordedAt!: number;
}
