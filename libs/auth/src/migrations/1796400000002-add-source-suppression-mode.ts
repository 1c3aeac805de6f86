import { MigrationInterface, QueryRunner } from 'typeorm';

/** What SendMail does with a suppressed recipient of this source ('drop' or 'refuse'); null: drop. */
export class AddSourceSuppressionMode1796400000002 implements MigrationInterface {
  name = 'AddSourceSuppressionMode1796400000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source ADD COLUMN suppressed_recipients varchar(16)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source DROP COLUMN suppressed_recipients`);
  }
}
