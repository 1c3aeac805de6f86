import { DATABASE_KINDS, MigratedTestDatabase, openMigratedTestDatabase } from '@mailgateway/testing';
import { ExpiredSuppressions } from './expired-suppressions';
import { SuppressionList } from './suppression-list.service';

describe.each(DATABASE_KINDS)(`${ExpiredSuppressions.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let list: SuppressionList;
  let sut: ExpiredSuppressions;

  const manual = (address: string, expiresAt: number | null) =>
    list.addManual({ address, scope: '*', origin: 'ticket 1', expiresAt }, 1_000);

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    list = new SuppressionList(database.transactions);
    sut = new ExpiredSuppressions(database.transactions);
  });
  afterEach(() => database.close());

  it('deletes entries whose expiry has passed and keeps the others, those without one included', async () => {
    await manual('expired@example.com', 5_000);
    await manual('later@example.com', 9_000);
    await manual('forever@example.com', null);

    expect(await sut.purgeBatch(4_999, 10)).toBe(0);
    expect(await sut.purgeBatch(5_000, 10)).toBe(1);

    const addresses = (
      await database.dataSource.query<{ address: string }[]>(
        'SELECT address FROM suppression_entry ORDER BY address',
      )
    ).map((row) => row.address);
    expect(addresses).toEqual(['forever@example.com', 'later@example.com']);
  });

  it('deletes at most a batch', async () => {
    for (let index = 0; index < 4; index++) await manual(`a${index}@example.com`, 2_000 + index);

    expect(await sut.purgeBatch(10_000, 3)).toBe(3);
    expect(await sut.purgeBatch(10_000, 3)).toBe(1);
  });
});
