import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';
import { SuppressionReason } from '../suppression';

/** One suppressed address in one scope ("*" or a source name). */
@Entity({ name: 'suppression_entry' })
@Index('suppression_entry_scope', ['scope', 'address'])
export class SuppressionEntryEntity {
  /** Lowercased. */
  @PrimaryColumn({ type: 'varchar', length: 320 })
  address!: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  scope!: string;

  @Column({ type: 'varchar', length: 16 })
  reason!: SuppressionReason;

  @Column({ type: 'varchar', length: 1000 })
  origin!: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  /** When it lapses by itself (epoch ms); null: never. */
  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintAsNumber, nullable: true })
  expiresAt!: number | null;
}
