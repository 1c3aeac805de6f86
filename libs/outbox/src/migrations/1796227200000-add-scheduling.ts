import { MigrationInterface, QueryRunner } from 'typeorm';

const DUE_INDEX = (statuses: string) =>
  `CREATE INDEX outbox_message_due ON outbox_message (next_attempt_at) WHERE status IN (${statuses})`;

/**
 * Scheduled send and cancel: a message may wait for its send_at (status 'scheduled'), and a cancel
 * that comes while an attempt is under way is remembered so no further attempt follows. The due
 * index takes scheduled messages in, so the claim's range scan stops at now and messages due
 * later cost it nothing. Plain SQL: on SQLite, TypeORM's column helpers rebuild the table from
 * what they last read of it, which would drop columns earlier migrations added with plain SQL.
 */
export class AddScheduling1796227200000 implements MigrationInterface {
  name = 'AddScheduling1796227200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN send_at bigint`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN cancel_requested_at bigint`);
    await queryRunner.query(`DROP INDEX outbox_message_due`);
    await queryRunner.query(DUE_INDEX("'scheduled', 'queued', 'sending', 'retrying'"));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX outbox_message_due`);
    await queryRunner.query(DUE_INDEX("'queued', 'sending', 'retrying'"));
    await queryRunner.query(`ALTER TABLE outbox_message DROP COLUMN cancel_requested_at`);
    await queryRunner.query(`ALTER TABLE outbox_message DROP COLUMN send_at`);
  }
}
