import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Provider feedback names a message by the provider's id for it: find it without scanning the
 * outbox. And an address's recent outcomes across messages (soft bounces since its last delivery)
 * are read by recipient, on the rows that name one. Plain SQL, as the earlier migrations.
 */
export class IndexProviderMessageId1796400000003 implements MigrationInterface {
  name = 'IndexProviderMessageId1796400000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX outbox_message_provider_message_id ON outbox_message (provider, provider_message_id)`,
    );
    await queryRunner.query(
      `CREATE INDEX message_event_recipient ON message_event (recipient, occurred_at) WHERE recipient IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX message_event_recipient`);
    await queryRunner.query(`DROP INDEX outbox_message_provider_message_id`);
  }
}
