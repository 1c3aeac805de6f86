import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Content at rest, sealed and forgettable: each message's content is sealed with its own data key
 * (content_key_id names the key-encryption key that wrapped it); recipients and sender are kept
 * apart from the sealed content because feedback, GetMessage and erasure query them after the
 * content is gone. A shredded message keeps an empty payload and the time it was shredded.
 * Rows stored before this migration have no content_key_id: their payload is plain JSON until
 * RewrapContentKeys seals it.
 */
export class AddContentEncryption1796500000000 implements MigrationInterface {
  name = 'AddContentEncryption1796500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN content_key_id varchar(64)`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN wrapped_data_key text`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN recipients text`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN sender varchar(320)`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN content_shredded_at bigint`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const column of [
      'content_shredded_at',
      'sender',
      'recipients',
      'wrapped_data_key',
      'content_key_id',
    ]) {
      await queryRunner.query(`ALTER TABLE outbox_message DROP COLUMN ${column}`);
    }
  }
}
