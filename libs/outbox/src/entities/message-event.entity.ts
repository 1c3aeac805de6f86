import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { MessageEventType } from '../message-status';
import { bigintAsNumber } from '@mailgateway/database';

/** Append-only history of a message; the sequence orders it (and later, the feed). */
@Entity({ name: 'message_event' })
@Index('message_event_message_id', ['messageId', 'sequence'])
export class MessageEventEntity {
  @PrimaryColumn({ type: 'bigint', generated: 'increment', transformer: bigintAsNumber })
  sequence!: number;

  @Column({ name: 'message_id', type: 'varchar', length: 36 })
  messageId!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: MessageEventType;

  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'text' })
  detail!: string;

  @Column({ name: 'occurred_at', type: 'bigint', transformer: bigintAsNumber })
  occurredAt!: number;
}
