import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

/**
 * How far one polled event feed (a provider's event API) has been read: the provider's own
 * reference, saved in the transaction that stores the events read up to it.
 */
@Entity({ name: 'feedback_position' })
export class FeedbackPositionEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  feed!: string;

  /** The provider's reference to resume from; "" for the start of the feed. */
  @Column({ type: 'text' })
  position!: string;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}
