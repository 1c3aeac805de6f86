import { DATABASE_KINDS, MigratedTestDatabase, openMigratedTestDatabase } from '@mailgateway/testing';
import { MessageEventEntity } from './entities/message-event.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { insertEvents } from './event-rows';
import { MessageEventType } from './message-status';
import { LowercaseEventRecipients1796500300002 } from './migrations/1796500300002-lowercase-event-recipients';

describe.each(DATABASE_KINDS)('the outbox migrations on %s', (kind) => {
  let database: MigratedTestDatabase;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
  });

  afterAll(async () => {
    await database?.close();
  });

  const columnsOf = async (table: string): Promise<string[]> => {
    const rows: { name: string }[] =
      kind === 'sqlite'
        ? await database.dataSource.query(`SELECT name FROM pragma_table_info('${table}')`)
        : await database.dataSource.query(
            `SELECT column_name AS name FROM information_schema.columns WHERE table_name = $1`,
            [table],
          );
    return rows.map((row) => row.name).sort();
  };

  it.each([OutboxMessageEntity, MessageEventEntity])('leave every column %p maps', async (entity) => {
    const metadata = database.dataSource.getMetadata(entity);
    const mapped = metadata.columns.map((column) => column.databaseName).sort();
    expect(await columnsOf(metadata.tableName)).toEqual(mapped);
  });

  it('lowercase the recipients of events written as spelled', async () => {
    await database.transactions.run((manager) =>
      insertEvents(manager, database.transactions.dialect, [
        {
          messageId: 'm-lowercase',
          source: 'billing',
          type: MessageEventType.RecipientRefused,
          attempt: 1,
          detail: 'refused',
          occurredAt: 1,
          recipient: 'x@example.com',
        },
      ]),
    );
    await database.dataSource.query(
      `UPDATE message_event SET recipient = 'Ann@Example.COM' WHERE message_id = 'm-lowercase'`,
    );
    const runner = database.dataSource.createQueryRunner();
    try {
      await new LowercaseEventRecipients1796500300002().up(runner);
    } finally {
      await runner.release();
    }
    expect(
      await database.dataSource.query(`SELECT recipient FROM message_event WHERE message_id = 'm-lowercase'`),
    ).toEqual([{ recipient: 'ann@example.com' }]);
  });
});
