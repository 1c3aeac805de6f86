import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event feed: each event names its source and, on PostgreSQL, the transaction that wrote it,
 * so a reader can order a source's events by (commit_xid, sequence) and read only below the oldest
 * transaction still running. Messages keep their tags and metadata beside the payload for the feed.
 */
export class AddEventFeed1796140800000 implements MigrationInterface {
  name = 'AddEventFeed1796140800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.options.type === 'postgres';
    await queryRunner.query(`ALTER TABLE message_event ADD COLUMN source varchar(64) NOT NULL DEFAULT ''`);
    await queryRunner.query(
      `UPDATE message_event SET source = (SELECT source FROM outbox_message WHERE outbox_message.id = message_event.message_id)`,
    );
    // Rows written before the feed existed are all committed: 0 puts them first, in sequence order.
    await queryRunner.query(`ALTER TABLE message_event ADD COLUMN commit_xid bigint NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE message_event ADD COLUMN recorded_at bigint NOT NULL DEFAULT 0`);
    await queryRunner.query(`UPDATE message_event SET recorded_at = occurred_at`);
    await queryRunner.query(`ALTER TABLE outbox_message ADD COLUMN labels text`);
    if (postgres) {
      await queryRunner.query(`ALTER TABLE message_event ALTER COLUMN source DROP DEFAULT`);
      // The writing transaction's id (epoch-extended, so it never wraps), set by the database itself.
      await queryRunner.query(
        `ALTER TABLE message_event ALTER COLUMN commit_xid SET DEFAULT (pg_current_xact_id()::text::bigint)`,
      );
      await queryRunner.query(
        `UPDATE outbox_message SET labels = json_build_object(
           'tags', COALESCE(payload::json->'tags', '[]'::json),
           'metadata', COALESCE(payload::json->'metadata', '{}'::json))::text`,
      );
    } else {
      await queryRunner.query(
        `UPDATE outbox_message SET labels = json_object(
           'tags', json(COALESCE(json_extract(payload, '$.tags'), '[]')),
           'metadata', json(COALESCE(json_extract(payload, '$.metadata'), '{}')))`,
      );
    }
    await queryRunner.query(
      `CREATE INDEX message_event_feed ON message_event (source, commit_xid, sequence)`,
    );
    // Small named values the feed keeps: the key that signs cursors, the oldest position still kept.
    await queryRunner.query(`CREATE TABLE feed_state (name varchar(32) PRIMARY KEY, value text NOT NULL)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE feed_state`);
    await queryRunner.query(`DROP INDEX message_event_feed`);
    await queryRunner.query(`ALTER TABLE outbox_message DROP COLUMN labels`);
    await queryRunner.query(`ALTER TABLE message_event DROP COLUMN recorded_at`);
    await queryRunner.query(`ALTER TABLE message_event DROP COLUMN commit_xid`);
    await queryRunner.query(`ALTER TABLE message_event DROP COLUMN source`);
  }
}
