import { MigrationInterface, QueryRunner } from 'typeorm';

/** Where each polled provider event feed was read up to. Plain SQL for both databases. */
export class CreateFeedbackPositions1796500000000 implements MigrationInterface {
  name = 'CreateFeedbackPositions1796500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE feedback_position (
         feed varchar(64) NOT NULL PRIMARY KEY,
         position text NOT NULL,
         updated_at bigint NOT NULL,
         leased_until bigint
       )`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE feedback_position`);
  }
}
