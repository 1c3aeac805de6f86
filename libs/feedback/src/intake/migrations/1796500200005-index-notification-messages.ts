import { MigrationInterface, QueryRunner } from 'typeorm';

/** Retention deletes a message's notifications with the message: by message id, a lookup of these alone. */
export class IndexNotificationMessages1796500200005 implements MigrationInterface {
  name = 'IndexNotificationMessages1796500200005';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS provider_notification_message ON provider_notification (message_id)
        WHERE message_id IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX provider_notification_message`);
  }
}
