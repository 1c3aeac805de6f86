import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

@Entity({ name: 'api_source' })
export class ApiSourceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  /** Comma-separated role names. */
  @Column({ type: 'varchar', length: 255 })
  roles!: string;

  /** Comma-separated domains the From address may use; null allows any. */
  @Column({ name: 'allowed_from_domains', type: 'text', nullable: true })
  allowedFromDomains!: string | null;

  @Column({ name: 'max_recipients', type: 'integer', nullable: true })
  maxRecipients!: number | null;

  @Column({ name: 'rate_limit_messages', type: 'integer', nullable: true })
  rateLimitMessages!: number | null;

  /** Comma-separated driver names that deliver this source's mail, in order; null: the default. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  drivers!: string | null;

  /** What SendMail does with a suppressed recipient: 'drop' or 'refuse'; null: drop. */
  @Column({ name: 'suppressed_recipients', type: 'varchar', length: 16, nullable: true })
  suppressedRecipients!: string | null;

  /** Client-certificate subject (CN or URI SAN, e.g. spiffe://...) that authenticates as this source. */
  @Column({ name: 'certificate_identity', type: 'varchar', length: 255, nullable: true })
  certificateIdentity!: string | null;

  /** Seconds a final message keeps its content; null: BODY_RETENTION_MS. */
  @Column({ name: 'body_retention_seconds', type: 'integer', nullable: true })
  bodyRetentionSeconds!: number | null;

  /** Seconds a final message is kept at all; null: HISTORY_RETENTION_MS. */
  @Column({ name: 'history_retention_seconds', type: 'integer', nullable: true })
  historyRetentionSeconds!: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}
