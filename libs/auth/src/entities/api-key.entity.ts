import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

@Entity({ name: 'api_key' })
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 12 })
  prefix!: string;

  @Column({ type: 'varchar', length: 64 })
  source!: string;

  /** SHA-256 (hex) of the whole key. */
  @Column({ name: 'key_hash', type: 'varchar', length: 64 })
  keyHash!: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'expires_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  expiresAt!: number | null;

  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  revokedAt!: number | null;

  /** The key that replaced this one in a rotation. */
  @Column({ name: 'replaced_by', type: 'varchar', length: 12, nullable: true })
  replacedBy!: string | null;
}
