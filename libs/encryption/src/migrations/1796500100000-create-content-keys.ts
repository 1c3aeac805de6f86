import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * content_key remembers, per key id, a check value of the key it named when first seen (never the
 * key), so a ring whose id now names another key is refused at start instead of sealing new mail
 * under a key the old mail cannot be opened with. gateway_secret keeps the gateway's own secrets
 * (the address hash key) wrapped by a content key.
 */
export class CreateContentKeys1796500100000 implements MigrationInterface {
  name = 'CreateContentKeys1796500100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE content_key (
         id varchar(64) PRIMARY KEY,
         check_value varchar(64) NOT NULL,
         first_seen_at bigint NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE gateway_secret (
         name varchar(64) PRIMARY KEY,
         content_key_id varchar(64) NOT NULL,
         wrapped_value text NOT NULL,
         updated_at bigint NOT NULL)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE gateway_secret`);
    await queryRunner.query(`DROP TABLE content_key`);
  }
}
