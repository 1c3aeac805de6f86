import { MigrationInterface, QueryRunner } from 'typeorm';

/** The suppression list: one entry per address and scope. Plain SQL for both databases. */
export class CreateSuppressionList1796400000001 implements MigrationInterface {
  name = 'CreateSuppressionList1796400000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE suppression_entry (
         address varchar(320) NOT NULL,
         scope varchar(64) NOT NULL,
         reason varchar(16) NOT NULL,
         origin varchar(1000) NOT NULL,
         created_at bigint NOT NULL,
         expires_at bigint,
         PRIMARY KEY (address, scope)
       )`,
    );
    // Listing one scope walks it in (address) order without reading the others.
    await queryRunner.query(`CREATE INDEX suppression_entry_scope ON suppression_entry (scope, address)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE suppression_entry`);
  }
}
