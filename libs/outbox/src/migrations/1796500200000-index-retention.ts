import { MigrationInterface, QueryRunner } from 'typeorm';

const FINAL = "'delivered', 'failed', 'expired', 'cancelled', 'suppressed'";

/**
 * Retention's indexes: final messages by source and the time they became final (updated_at),
 * those still holding content apart. Partial, so they hold only what retention will act on and
 * each batch is a range scan that stops at its cutoff; active messages, which the hot path
 * writes, are in neither. On a large table, build them first with CREATE INDEX CONCURRENTLY under
 * the same names (this migration then finds them and skips): a plain CREATE INDEX blocks writes
 * to outbox_message while it runs.
 */
export class IndexRetention1796500200000 implements MigrationInterface {
  name = 'IndexRetention1796500200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS outbox_message_final ON outbox_message (source, updated_at)
        WHERE status IN (${FINAL})`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS outbox_message_unshredded ON outbox_message (source, updated_at)
        WHERE status IN (${FINAL}) AND content_shredded_at IS NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX outbox_message_unshredded`);
    await queryRunner.query(`DROP INDEX outbox_message_final`);
  }
}
