import { MigrationInterface, QueryRunner } from 'typeorm';

/** Verified provider notifications, once each, with their processing state. Plain SQL for both databases. */
export class CreateProviderNotifications1796400000000 implements MigrationInterface {
  name = 'CreateProviderNotifications1796400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE provider_notification (
         provider varchar(64) NOT NULL,
         event_id varchar(255) NOT NULL,
         feedback text NOT NULL,
         state varchar(16) NOT NULL,
         attempts integer NOT NULL,
         next_attempt_at bigint NOT NULL,
         message_id varchar(36),
         received_at bigint NOT NULL,
         processed_at bigint,
         PRIMARY KEY (provider, event_id)
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX provider_notification_due ON provider_notification (state, next_attempt_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE provider_notification`);
  }
}
