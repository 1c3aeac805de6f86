import { DATABASE_KINDS, MigratedTestDatabase, openMigratedTestDatabase } from '@mailgateway/testing';
import { MessageEventEntity } from './entities/message-event.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';

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
});
