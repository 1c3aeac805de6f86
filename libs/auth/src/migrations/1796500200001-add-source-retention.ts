import { MigrationInterface, QueryRunner } from 'typeorm';

/** A source's own retention, in seconds; null takes the gateway's BODY_ / HISTORY_RETENTION_MS. */
export class AddSourceRetention1796500200001 implements MigrationInterface {
  name = 'AddSourceRetention1796500200001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source ADD COLUMN body_retention_seconds integer`);
    await queryRunner.query(`ALTER TABLE api_source ADD COLUMN history_retention_seconds integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source DROP COLUMN history_retention_seconds`);
    await queryRunner.query(`ALTER TABLE api_source DROP COLUMN body_retention_seconds`);
  }
}
