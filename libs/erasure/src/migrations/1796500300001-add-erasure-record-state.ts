import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether an erasure finished: its record is written "started" before the first batch and marked
 * "done" after the last, so one interrupted (a restart, the database away) says so, and erasing the
 * address again completes that record. Records written before this column were all finished.
 */
export class AddErasureRecordState1796500300001 implements MigrationInterface {
  name = 'AddErasureRecordState1796500300001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE erasure_record ADD COLUMN state varchar(16) NOT NULL DEFAULT 'done'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE erasure_record DROP COLUMN state`);
  }
}
