import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * feed_state names a floor per source ("floor:" and a source name of up to 64 characters).
 * SQLite does not enforce a varchar's length; PostgreSQL widens the column in place (no rewrite).
 */
export class WidenFeedStateName1796500200004 implements MigrationInterface {
  name = 'WidenFeedStateName1796500200004';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'postgres') return;
    await queryRunner.query(`ALTER TABLE feed_state ALTER COLUMN name TYPE varchar(96)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'postgres') return;
    await queryRunner.query(`DELETE FROM feed_state WHERE name LIKE 'floor:%'`);
    await queryRunner.query(`ALTER TABLE feed_state ALTER COLUMN name TYPE varchar(32)`);
  }
}
