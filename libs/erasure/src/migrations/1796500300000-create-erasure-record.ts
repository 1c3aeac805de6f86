import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The record that an address was erased: its keyed hash, never the address, with why, who asked
 * and what was done. One row per erasure, a repeated one included.
 */
export class CreateErasureRecord1796500300000 implements MigrationInterface {
  name = 'CreateErasureRecord1796500300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE erasure_record (
         id varchar(36) NOT NULL PRIMARY KEY,
         address_hash varchar(66) NOT NULL,
         reason text NOT NULL,
         requested_by varchar(64) NOT NULL,
         erased_at bigint NOT NULL,
         messages_shredded integer NOT NULL,
         records_redacted integer NOT NULL,
         suppressions_kept integer NOT NULL
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX erasure_record_address_hash ON erasure_record (address_hash, erased_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE erasure_record`);
  }
}
