import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

export class CreateOutbox1763700000000 implements MigrationInterface {
  name = 'CreateOutbox1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.options.type === 'postgres';
    await queryRunner.createTable(
      new Table({
        name: 'outbox_message',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'source', type: 'varchar', length: '64' },
          { name: 'idempotency_key', type: 'varchar', length: '255', isNullable: true },
          { name: 'content_hash', type: 'varchar', length: '64' },
          { name: 'payload', type: 'text' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'lease_token', type: 'integer', default: 0 },
          { name: 'next_attempt_at', type: 'bigint' },
          { name: 'accepted_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
          { name: 'provider', type: 'varchar', length: '64', isNullable: true },
          { name: 'provider_message_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
        ],
      }),
    );
    await queryRunner.createIndex(
      'outbox_message',
      new TableIndex({
        name: 'outbox_message_source_idempotency_key',
        columnNames: ['source', 'idempotency_key'],
        isUnique: true,
      }),
    );
    // Partial: the dispatcher scans only active messages, so the index stays small as history grows.
    await queryRunner.createIndex(
      'outbox_message',
      new TableIndex({
        name: 'outbox_message_due',
        columnNames: ['next_attempt_at'],
        where: "status IN ('queued', 'sending', 'retrying')",
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'message_event',
        columns: [
          {
            name: 'sequence',
            // SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
            type: postgres ? 'bigint' : 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'message_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'attempt', type: 'integer' },
          { name: 'detail', type: 'text' },
          { name: 'occurred_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'message_event',
      new TableIndex({ name: 'message_event_message_id', columnNames: ['message_id', 'sequence'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('message_event');
    await queryRunner.dropTable('outbox_message');
  }
}
