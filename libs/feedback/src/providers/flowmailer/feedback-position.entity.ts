import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

/**
 * How far one polled event feed (a provider's event API) has been read: the provider's own
 * reference, saved in the transaction that stores the events read up to it, and the lease of
 * the replica reading it now.
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

  /** Until when (epoch ms) a replica's poll holds the feed; null when no poll is running. */
  @Column({ name: 'leased_until', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  leasedUntil!: number | null;
}
