import { MigrationInterface, QueryRunner } from 'typeorm';

/** Retention deletes expired entries, oldest expiry first: a range scan of those with one. */
export class IndexSuppressionExpiry1796500200002 implements MigrationInterface {
  name = 'IndexSuppressionExpiry1796500200002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS suppression_entry_expiry ON suppression_entry (expires_at)
        WHERE expires_at IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX suppression_entry_expiry`);
  }
}
