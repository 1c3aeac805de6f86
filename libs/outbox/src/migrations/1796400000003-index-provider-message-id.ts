import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Provider feedback names a message by the provider's id for it: find it without scanning the
 * outbox. Plain SQL, as the earlier migrations.
 */
export class IndexProviderMessageId1796400000003 implements MigrationInterface {
  name = 'IndexProviderMessageId1796400000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX outbox_message_provider_message_id ON outbox_message (provider, provider_message_id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX outbox_message_provider_message_id`);
  }
}
