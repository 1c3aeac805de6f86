import { MigrationInterface, QueryRunner } from 'typeorm';

/** Retention deletes notifications done with, oldest first: a range scan of these alone. */
export class IndexProcessedNotifications1796500200003 implements MigrationInterface {
  name = 'IndexProcessedNotifications1796500200003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS provider_notification_done ON provider_notification (processed_at)
        WHERE state IN ('processed', 'unmatched')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX provider_notification_done`);
  }
}
