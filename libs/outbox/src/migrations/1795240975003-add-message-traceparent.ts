import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** The caller's W3C trace context, kept with the message so its delivery continues the trace. */
export class AddMessageTraceparent1795240975003 implements MigrationInterface {
  name = 'AddMessageTraceparent1795240975003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'outbox_message',
      new TableColumn({ name: 'traceparent', type: 'varchar', length: '55', isNullable: true }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('outbox_message', 'traceparent');
  }
}
