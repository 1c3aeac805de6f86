import { MigrationInterface, QueryRunner } from 'typeorm';

/** A source's own chain of drivers (comma-separated names); null keeps the gateway's default. */
export class AddSourceDrivers1796313600001 implements MigrationInterface {
  name = 'AddSourceDrivers1796313600001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source ADD COLUMN drivers varchar(255)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE api_source DROP COLUMN drivers`);
  }
}
