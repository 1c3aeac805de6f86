import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which driver handled each attempt, which recipient an event is about, and how many attempts
 * did not count toward DELIVERY_MAX_ATTEMPTS (the relay refused the gateway's own credentials).
 * Plain SQL, as the earlier migrations: TypeORM's column helpers rebuild SQLite tables from a
 * stale picture of them.
 */
export class AddAttemptRouting1796313600000 implements MigrationInterface {
  name = 'AddAttemptRouting1796313600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE message_event ADD COLUMN provider varchar(64)`);
    await queryRunner.query(`ALTER TABLE message_event ADD COLUMN recipient varchar(320)`);
    await queryRunner.query(
      `ALTER TABLE outbox_message ADD COLUMN spared_attempts integer NOT NULL DEFAULT 0`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE outbox_message DROP COLUMN spared_attempts`);
    await queryRunner.query(`ALTER TABLE message_event DROP COLUMN recipient`);
    await queryRunner.query(`ALTER TABLE message_event DROP COLUMN provider`);
  }
}
