import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Scheduled send and cancel: a message may wait for its send_at (status 'scheduled'), and a cancel
 * that comes while an attempt is under way is remembered so no further attempt follows. The due
 * index takes scheduled messages in, so the claim's range scan stops at now and messages due
 * later cost it nothing.
 */
export class AddScheduling1796227200000 implements MigrationInterface {
  name = 'AddScheduling1796227200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('outbox_message', [
      new TableColumn({ name: 'send_at', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'cancel_requested_at', type: 'bigint', isNullable: true }),
    ]);
    await queryRunner.dropIndex('outbox_message', 'outbox_message_due');
    await queryRunner.createIndex(
      'outbox_message',
      new TableIndex({
        name: 'outbox_message_due',
        columnNames: ['next_attempt_at'],
        where: "status IN ('scheduled', 'queued', 'sending', 'retrying')",
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('outbox_message', 'outbox_message_due');
    await queryRunner.createIndex(
      'outbox_message',
      new TableIndex({
        name: 'outbox_message_due',
        columnNames: ['next_attempt_at'],
        where: "status IN ('queued', 'sending', 'retrying')",
      }),
    );
    await queryRunner.dropColumn('outbox_message', 'cancel_requested_at');
    await queryRunner.dropColumn('outbox_message', 'send_at');
  }
}
