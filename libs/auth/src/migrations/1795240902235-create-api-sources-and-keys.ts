import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';

export class CreateApiSourcesAndKeys1795240902235 implements MigrationInterface {
  name = 'CreateApiSourcesAndKeys1795240902235';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'api_source',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          // Comma-separated role names, e.g. "mail.send,mail.read".
          { name: 'roles', type: 'varchar', length: '255' },
          { name: 'allowed_from_domains', type: 'text', isNullable: true },
          { name: 'max_recipients', type: 'integer', isNullable: true },
          { name: 'rate_limit_messages', type: 'integer', isNullable: true },
          { name: 'certificate_identity', type: 'varchar', length: '255', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'api_source',
      new TableIndex({
        name: 'api_source_certificate_identity',
        columnNames: ['certificate_identity'],
        isUnique: true,
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'api_key',
        columns: [
          // The visible part of the key; the secret is kept only as a SHA-256 of the whole key.
          { name: 'prefix', type: 'varchar', length: '12', isPrimary: true },
          { name: 'source', type: 'varchar', length: '64' },
          { name: 'key_hash', type: 'varchar', length: '64' },
          { name: 'created_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint', isNullable: true },
          { name: 'revoked_at', type: 'bigint', isNullable: true },
          { name: 'replaced_by', type: 'varchar', length: '12', isNullable: true },
        ],
      }),
    );
    await queryRunner.createForeignKey(
      'api_key',
      new TableForeignKey({
        name: 'api_key_source',
        columnNames: ['source'],
        referencedTableName: 'api_source',
        referencedColumnNames: ['name'],
      }),
    );
    await queryRunner.createIndex(
      'api_key',
      new TableIndex({ name: 'api_key_source', columnNames: ['source'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('api_key');
    await queryRunner.dropTable('api_source');
  }
}
