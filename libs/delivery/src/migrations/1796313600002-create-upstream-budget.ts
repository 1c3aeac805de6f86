import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The fleet-wide upstream budgets, for fleets that share them through the database rather than
 * Redis: what each replica holds per upstream host, with its heartbeat and its "waiting" mark
 * (milliseconds on the database's clock), and each host's next send slot (microseconds). Plain
 * SQL that both PostgreSQL and SQLite read the same way.
 */
export class CreateUpstreamBudget1796313600002 implements MigrationInterface {
  name = 'CreateUpstreamBudget1796313600002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE upstream_budget_holding (
         host varchar(255) NOT NULL,
         replica varchar(128) NOT NULL,
         held integer NOT NULL,
         expires_at bigint NOT NULL,
         wanting_until bigint NOT NULL DEFAULT 0,
         PRIMARY KEY (host, replica)
       )`,
    );
    await queryRunner.query(
      `CREATE TABLE upstream_send_slot (host varchar(255) PRIMARY KEY, next_at bigint NOT NULL)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE upstream_send_slot`);
    await queryRunner.query(`DROP TABLE upstream_budget_holding`);
  }
}
