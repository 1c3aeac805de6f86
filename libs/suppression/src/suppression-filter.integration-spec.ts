import {
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  waitFor,
} from '@mailgateway/testing';
import type { EntityManager } from 'typeorm';
import { SuppressionFilter } from './suppression-filter';

const NOW = 1_800_000_000_000;
/** An entry as erasure keeps it: an address's keyed hash. */
const ERASED = `h:${'0a'.repeat(32)}`;
const isErased = (address: string) => address.startsWith('h:');

/** A row as the list's writers leave it, and their announcement, in one transaction. */
async function write(
  database: { transactions: MigratedTestDatabase['transactions'] },
  filter: SuppressionFilter,
  address: string,
) {
  await database.transactions.run(async (manager) => {
    await insert(manager, database.transactions.dialect, address);
    await filter.announce(manager, [address]);
  });
}

function insert(manager: EntityManager, dialect: string, address: string): Promise<unknown> {
  const p = (index: number) => (dialect === 'postgres' ? `$${index}` : '?');
  return manager.query(
    `INSERT INTO suppression_entry (address, scope, reason, origin, created_at, expires_at)
       VALUES (${p(1)}, '*', 'manual', 'test', ${p(2)}, NULL)`,
    [address, NOW],
  );
}

const ready = (filter: SuppressionFilter) =>
  waitFor('the filter ready', () => (filter.ready ? true : undefined));

/** Starts the filter (on first use, as an accept does) and waits until it is built. */
async function started(filter: SuppressionFilter): Promise<SuppressionFilter> {
  filter.mayContain('warm-up@example.com');
  await ready(filter);
  return filter;
}

describe.each(DATABASE_KINDS)(`${SuppressionFilter.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  const filters: SuppressionFilter[] = [];
  const newFilter = (transactions = database.transactions) => {
    const filter = new SuppressionFilter(transactions, isErased);
    filters.push(filter);
    return filter;
  };

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
  });
  afterEach(async () => {
    for (const filter of filters.splice(0)) await filter.close();
    await database.dataSource.query('DELETE FROM suppression_entry');
  });
  afterAll(() => database.close());

  it('answers "maybe" for every address until built from the table, then "no" for addresses with no entry', async () => {
    await database.transactions.run((manager) => insert(manager, kind, 'listed@example.com'));
    const filter = newFilter();

    expect(filter.mayContain('free@example.com')).toBe(true);
    await ready(filter);
    expect(filter.mayContain('listed@example.com')).toBe(true);
    expect(filter.mayContain('free@example.com')).toBe(false);
  });

  it('holds an entry this process writes from inside its transaction on', async () => {
    const filter = await started(newFilter());

    await database.transactions.run(async (manager) => {
      await filter.announce(manager, ['new@example.com']);
      expect(filter.mayContain('new@example.com')).toBe(true);
    });
    expect(filter.mayContain('other@example.com')).toBe(false);
  });

  it("knows whether an erased address's hash may be listed: from the table, and from what this process writes", async () => {
    await database.transactions.run((manager) => insert(manager, kind, 'plain@example.com'));
    const unbuilt = newFilter();
    // Not built: anything may be listed.
    expect(unbuilt.mayHoldErased).toBe(true);
    await started(unbuilt);
    expect(unbuilt.mayHoldErased).toBe(false);

    await write(database, unbuilt, ERASED);
    expect(unbuilt.mayHoldErased).toBe(true);
    expect(unbuilt.mayContain(ERASED)).toBe(true);
    expect((await started(newFilter())).mayHoldErased).toBe(true);
  });

  it('builds itself again, larger, once it holds more than its capacity', async () => {
    const filter = await started(newFilter());
    const count = 200_000;
    const bulk = Array.from({ length: count }, (_, index) => `bulk-${index + 1}@example.com`);
    const numbers =
      kind === 'postgres'
        ? `SELECT n FROM generate_series(1, ${count}) AS n`
        : `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${count}) SELECT n FROM s`;
    await database.transactions.run(async (manager) => {
      await manager.query(
        `INSERT INTO suppression_entry (address, scope, reason, origin, created_at, expires_at)
           SELECT 'bulk-' || n || '@example.com', '*', 'manual', 'test', ${NOW}, NULL FROM (${numbers}) AS numbers`,
      );
      await filter.announce(manager, bulk);
    });
    const free = Array.from({ length: 1_000 }, (_, index) => `free-${index}@example.com`);
    const falsePositives = () => free.filter((address) => filter.mayContain(address)).length;
    const missing = (addresses: string[]) => addresses.filter((address) => !filter.mayContain(address));
    const sample = bulk.filter((_, index) => index % 100 === 0);

    // Three times over its first capacity, about 40% of free addresses would pass; rebuilt, almost
    // none. A build that began before the commit misses the rows until their NOTIFY arrives.
    await waitFor('a larger filter with every entry', () =>
      missing(sample).length === 0 && falsePositives() < 20 ? true : undefined,
    );
    expect(missing(bulk)).toEqual([]);
  });
});

describe('SuppressionFilter between replicas on postgres', () => {
  let database: MigratedTestDatabase;
  let replica: { transactions: MigratedTestDatabase['transactions'] };
  let here: SuppressionFilter;
  let there: SuppressionFilter;

  beforeAll(async () => {
    database = await openMigratedTestDatabase('postgres');
    replica = await database.openReplica();
  });
  beforeEach(async () => {
    [here, there] = await Promise.all([
      started(new SuppressionFilter(database.transactions, isErased)),
      started(new SuppressionFilter(replica.transactions, isErased)),
    ]);
  });
  afterEach(async () => {
    await here.close();
    await there.close();
    await database.dataSource.query('DELETE FROM suppression_entry');
  });
  afterAll(() => database.close());

  it("takes in another replica's entry when its transaction commits", async () => {
    await write(replica, there, 'from-there@example.com');

    await waitFor('the announcement', () => (here.mayContain('from-there@example.com') ? true : undefined));
    expect(here.mayContain('still-free@example.com')).toBe(false);
  });

  it("learns from another replica's entry that an erased address's hash is listed", async () => {
    expect(here.mayHoldErased).toBe(false);

    await write(replica, there, ERASED);

    await waitFor('the announcement', () => (here.mayHoldErased ? true : undefined));
    expect(here.mayContain(ERASED)).toBe(true);
  });

  it('says "maybe" while its LISTEN connection is down, and after it is back holds what was written meanwhile', async () => {
    await database.dataSource.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'mailgateway-suppressions'`,
    );
    await waitFor('the broken connection noticed', () => (here.ready ? undefined : true));
    await write(replica, there, 'while-down@example.com');

    expect(here.mayContain('while-down@example.com')).toBe(true);
    expect(here.mayContain('still-free@example.com')).toBe(true);
    await ready(here);
    expect(here.mayContain('while-down@example.com')).toBe(true);
    expect(here.mayContain('still-free@example.com')).toBe(false);
  });
});
