import { Logger } from '@nestjs/common';
import { ErrorCode } from '@mailgateway/errors';
import {
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { SuppressionEntryEntity } from './entities/suppression-entry.entity';
import { ALL_SOURCES, NewSuppression, SuppressionReason } from './suppression';
import { SuppressionException, SuppressionProblem } from './suppression.exception';
import { SuppressionList } from './suppression-list.service';

const NOW = 1_800_000_000_000;

function entry(
  address: string,
  reason: SuppressionReason,
  overrides: Partial<NewSuppression> = {},
): NewSuppression {
  return { address, scope: ALL_SOURCES, reason, origin: `test:${reason}`, expiresAt: null, ...overrides };
}

async function problemOf(promise: Promise<unknown>): Promise<SuppressionException> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof SuppressionException))
    throw new Error(`expected a SuppressionException, got ${String(error)}`);
  return error;
}

describe.each(DATABASE_KINDS)(`${SuppressionList.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: SuppressionList;

  const add = (entries: NewSuppression[], now = NOW) =>
    database.transactions.run((manager) => sut.add(manager, entries, now));
  /** Calls findShared, counting the statements it takes. */
  const findCounted = async (list: SuppressionList, addresses: string[]) => {
    const reads = jest.spyOn(database.transactions, 'read');
    try {
      const found = await list.findShared('billing', addresses);
      return { found: [...found.keys()], statements: reads.mock.calls.length };
    } finally {
      reads.mockRestore();
    }
  };
  /** Starts the list's filter (the first findShared does) and waits until it is built. */
  const filterReady = async (list: SuppressionList) => {
    await list.findShared('billing', ['nobody@example.com']);
    await waitFor('the filter built', () => (list.filterReady ? true : undefined));
  };

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new SuppressionList(database.transactions);
  });
  afterAll(async () => {
    await sut.onModuleDestroy();
    await database.close();
  });
  beforeEach(() => database.dataSource.query('DELETE FROM suppression_entry'));

  it('has a table with every column the entity maps, read back through the entity', async () => {
    const metadata = database.dataSource.getMetadata(SuppressionEntryEntity);
    const rows: { name: string }[] =
      kind === 'sqlite'
        ? await database.dataSource.query(`SELECT name FROM pragma_table_info('suppression_entry')`)
        : await database.dataSource.query(
            `SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'suppression_entry'`,
          );
    expect(rows.map(({ name }) => name).sort()).toEqual(
      metadata.columns.map((column) => column.databaseName).sort(),
    );

    await add([entry('entity@example.com', SuppressionReason.Manual, { expiresAt: NOW + 1 })]);
    expect(
      await database.dataSource.manager.findOneBy(SuppressionEntryEntity, { address: 'entity@example.com' }),
    ).toEqual(
      Object.assign(new SuppressionEntryEntity(), {
        address: 'entity@example.com',
        scope: ALL_SOURCES,
        reason: SuppressionReason.Manual,
        origin: 'test:manual',
        createdAt: NOW,
        expiresAt: NOW + 1,
      }),
    );
  });

  describe('find', () => {
    it("answers one entry per address, the source's own before the one for every source", async () => {
      await add([
        entry('both@example.com', SuppressionReason.HardBounce),
        entry('both@example.com', SuppressionReason.Manual, { scope: 'billing' }),
        entry('all@example.com', SuppressionReason.Complaint),
        entry('crm-only@example.com', SuppressionReason.Manual, { scope: 'crm' }),
      ]);

      const found = await sut.find(
        'billing',
        ['Both@Example.com', 'all@example.com', 'crm-only@example.com', 'free@example.com'],
        undefined,
        NOW,
      );

      expect([...found.keys()].sort()).toEqual(['all@example.com', 'both@example.com']);
      expect(found.get('both@example.com')).toMatchObject({
        scope: 'billing',
        reason: SuppressionReason.Manual,
      });
      expect(found.get('all@example.com')).toMatchObject({
        scope: ALL_SOURCES,
        reason: SuppressionReason.Complaint,
        origin: 'test:complaint',
        createdAt: NOW,
        expiresAt: null,
      });
    });

    it('leaves out entries that have expired, and reads in the caller’s transaction', async () => {
      await add([
        entry('lapsed@example.com', SuppressionReason.Manual, { expiresAt: NOW }),
        entry('lapsing@example.com', SuppressionReason.Manual, { expiresAt: NOW + 1 }),
      ]);

      const found = await database.transactions.run((manager) =>
        sut.find('billing', ['lapsed@example.com', 'lapsing@example.com'], manager, NOW),
      );

      expect([...found.keys()]).toEqual(['lapsing@example.com']);
      expect((await sut.find('billing', ['lapsing@example.com'], undefined, NOW + 1)).size).toBe(0);
    });

    it('looks up more addresses than one statement takes parameters', async () => {
      // 70,000 is past PostgreSQL's 65,535 bind parameters and SQLite's 32,766.
      const addresses = Array.from({ length: 70_000 }, (_, index) => `many-${index}@example.com`);
      await add([
        entry(addresses[3], SuppressionReason.Manual),
        entry(addresses[68_999], SuppressionReason.HardBounce),
      ]);

      const found = await sut.find('billing', addresses, undefined, NOW);

      expect([...found.keys()].sort()).toEqual([addresses[3], addresses[68_999]].sort());
    });

    it('finds nothing for no addresses', async () => {
      expect((await sut.find('billing', [], undefined, NOW)).size).toBe(0);
    });
  });

  describe('findEach', () => {
    it("answers each lookup of a batch as find would, each source's entries for it alone, in one statement", async () => {
      await add([
        entry('both@example.com', SuppressionReason.HardBounce),
        entry('both@example.com', SuppressionReason.Manual, { scope: 'billing' }),
        entry('crm-only@example.com', SuppressionReason.Complaint, { scope: 'crm' }),
        entry('lapsed@example.com', SuppressionReason.Manual, { expiresAt: NOW }),
      ]);
      const reads = jest.spyOn(database.transactions, 'read');

      const [billing, crm, nobody] = await sut.findEach(
        [
          {
            source: 'billing',
            addresses: ['Both@Example.com', 'crm-only@example.com', 'lapsed@example.com'],
          },
          { source: 'crm', addresses: ['both@example.com', 'CRM-only@example.com'] },
          { source: 'billing', addresses: ['free@example.com'] },
        ],
        undefined,
        NOW,
      );

      expect(reads).toHaveBeenCalledTimes(1);
      reads.mockRestore();
      expect([...billing.entries()].map(([address, { scope, reason }]) => [address, scope, reason])).toEqual([
        ['both@example.com', 'billing', SuppressionReason.Manual],
      ]);
      expect([...crm.entries()].map(([address, { scope, reason }]) => [address, scope, reason])).toEqual([
        ['both@example.com', ALL_SOURCES, SuppressionReason.HardBounce],
        ['crm-only@example.com', 'crm', SuppressionReason.Complaint],
      ]);
      expect(nobody.size).toBe(0);
    });
  });

  describe('findShared', () => {
    it('answers calls made at once from fewer statements than calls, each with its own source’s entries', async () => {
      await add([
        entry('both@example.com', SuppressionReason.HardBounce),
        entry('both@example.com', SuppressionReason.Manual, { scope: 'billing' }),
        entry('crm-only@example.com', SuppressionReason.Complaint, { scope: 'crm' }),
      ]);
      const reads = jest.spyOn(database.transactions, 'read');

      const answers = await Promise.all(
        ['billing', 'crm', 'billing', 'crm', 'billing', 'crm'].map((source) =>
          sut.findShared(source, ['Both@Example.com', 'crm-only@example.com', 'free@example.com']),
        ),
      );

      expect(reads.mock.calls.length).toBeLessThan(answers.length);
      reads.mockRestore();
      const described = answers.map((found) =>
        [...found.entries()].map(([address, { scope, reason }]) => [address, scope, reason]),
      );
      const billing = [['both@example.com', 'billing', SuppressionReason.Manual]];
      const crm = [
        ['both@example.com', ALL_SOURCES, SuppressionReason.HardBounce],
        ['crm-only@example.com', 'crm', SuppressionReason.Complaint],
      ];
      expect(described).toEqual([billing, crm, billing, crm, billing, crm]);
    });

    it('asks the table only about addresses its filter cannot rule out, and finds what was added since', async () => {
      await add([entry('before@example.com', SuppressionReason.HardBounce)]);
      await filterReady(sut);
      await add([entry('after@example.com', SuppressionReason.Complaint)]);
      await database.transactions.run(async (manager) => {
        const manual = new SuppressionList(database.transactions);
        await manual.add(manager, [entry('other-list@example.com', SuppressionReason.Manual)]);
      });

      expect(await findCounted(sut, ['free-1@example.com', 'free-2@example.com'])).toEqual({
        found: [],
        statements: 0,
      });
      expect(
        await findCounted(sut, ['Before@Example.com', 'free-1@example.com', 'after@example.com']),
      ).toEqual({
        found: ['before@example.com', 'after@example.com'],
        statements: 1,
      });
      // Written through another list (another replica's): here once its announcement arrives.
      if (kind === 'postgres') {
        await waitFor('the other list’s entry', async () =>
          (await sut.findShared('billing', ['other-list@example.com'])).size === 1 ? true : undefined,
        );
      }
    });
  });

  describe('add', () => {
    it('strengthens an entry with a stronger reason and keeps it against equal or weaker ones', async () => {
      expect(await add([entry('a@example.com', SuppressionReason.HardBounce)])).toHaveLength(1);

      const weaker = await add([
        entry('a@example.com', SuppressionReason.Manual, { origin: 'note' }),
        entry('a@example.com', SuppressionReason.HardBounce, { origin: 'second bounce' }),
      ]);
      expect(weaker).toEqual([]);
      expect((await sut.find('x', ['a@example.com'], undefined, NOW)).get('a@example.com')).toMatchObject({
        reason: SuppressionReason.HardBounce,
        origin: 'test:hard_bounce',
      });

      const stronger = await add([entry('a@example.com', SuppressionReason.Unsubscribe)], NOW + 5);
      expect(stronger).toEqual([
        {
          address: 'a@example.com',
          scope: ALL_SOURCES,
          reason: SuppressionReason.Unsubscribe,
          origin: 'test:unsubscribe',
          createdAt: NOW + 5,
          expiresAt: null,
        },
      ]);
      expect(await add([entry('a@example.com', SuppressionReason.Complaint)])).toHaveLength(1);
      expect(await add([entry('a@example.com', SuppressionReason.Unsubscribe)])).toEqual([]);
      expect(await database.count('suppression_entry')).toBe(1);
    });

    it('replaces an expired entry whatever its reason, and takes the strongest of repeats in one call', async () => {
      await add([entry('b@example.com', SuppressionReason.Complaint, { expiresAt: NOW })]);

      const added = await add([
        entry('B@example.com', SuppressionReason.Manual),
        entry('b@example.com', SuppressionReason.HardBounce),
        entry('b@example.com', SuppressionReason.SoftBounces),
      ]);

      expect(added).toEqual([
        expect.objectContaining({ address: 'b@example.com', reason: SuppressionReason.HardBounce }),
      ]);
    });

    it('keeps the first 1000 characters of an origin longer than its column', async () => {
      const [added] = await add([
        entry('long@example.com', SuppressionReason.Provider, { origin: 'p'.repeat(1200) }),
      ]);

      expect(added.origin).toBe('p'.repeat(1000));
    });

    it('takes the same address from transactions running at once, ending with the strongest reason', async () => {
      const replica =
        database.kind === 'postgres' ? (await database.openReplica()).transactions : database.transactions;
      const reasons = [
        SuppressionReason.SoftBounces,
        SuppressionReason.HardBounce,
        SuppressionReason.Complaint,
        SuppressionReason.Unsubscribe,
        SuppressionReason.Provider,
        SuppressionReason.HardBounce,
      ];

      const results = await Promise.all(
        reasons.map((reason, index) =>
          (index % 2 === 0 ? database.transactions : replica).run((manager) =>
            sut.add(manager, [entry('race@example.com', reason)], NOW),
          ),
        ),
      );

      expect(results.flat().length).toBeGreaterThanOrEqual(1);
      expect(await database.count('suppression_entry')).toBe(1);
      expect(
        (await sut.find('x', ['race@example.com'], undefined, NOW)).get('race@example.com')?.reason,
      ).toBe(SuppressionReason.Complaint);
    });

    if (kind === 'postgres')
      it('on PostgreSQL, a second replica waits for the first one’s uncommitted entry and then strengthens it', async () => {
        const replica = (await database.openReplica()).transactions;
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let firstAdded!: () => void;
        const firstInserted = new Promise<void>((resolve) => (firstAdded = resolve));

        const first = database.transactions.run(async (manager) => {
          const added = await sut.add(
            manager,
            [entry('held@example.com', SuppressionReason.HardBounce)],
            NOW,
          );
          firstAdded();
          await held;
          return added;
        });
        await firstInserted;
        const second = replica.run((manager) =>
          sut.add(manager, [entry('held@example.com', SuppressionReason.Complaint)], NOW + 1),
        );
        await waitForLockWait(database);
        release();

        expect(await first).toHaveLength(1);
        expect(await second).toEqual([
          expect.objectContaining({ reason: SuppressionReason.Complaint, createdAt: NOW + 1 }),
        ]);
        expect(await database.count('suppression_entry')).toBe(1);
      });
  });

  describe('list', () => {
    beforeEach(() =>
      add([
        entry('c@example.com', SuppressionReason.Manual, { scope: 'crm' }),
        entry('a@example.com', SuppressionReason.Manual),
        entry('b@example.com', SuppressionReason.Manual, { scope: 'billing' }),
        entry('a@example.com', SuppressionReason.Manual, { scope: 'billing' }),
        entry('c@example.com', SuppressionReason.Manual),
        entry('ab@example.com', SuppressionReason.Manual, { expiresAt: NOW }),
        entry('b@example.org', SuppressionReason.Manual),
      ]),
    );

    it('walks every live entry in (address, scope) order, page by page', async () => {
      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await sut.list({ pageSize: 2, pageToken }, NOW);
        expect(page.suppressions.length).toBeLessThanOrEqual(2);
        seen.push(...page.suppressions.map(({ address, scope }) => `${address} ${scope}`));
        pageToken = page.nextPageToken;
        pages += 1;
      } while (pageToken !== '');

      expect(seen).toEqual([
        'a@example.com *',
        'a@example.com billing',
        'b@example.com billing',
        'b@example.org *',
        'c@example.com *',
        'c@example.com crm',
      ]);
      expect(pages).toBe(3);
    });

    it('filters by scope and by address prefix', async () => {
      const billing = await sut.list({ scope: 'billing', pageSize: 10 }, NOW);
      expect(billing.suppressions.map(({ address }) => address)).toEqual(['a@example.com', 'b@example.com']);
      expect(billing.nextPageToken).toBe('');

      const prefixed = await sut.list({ addressPrefix: 'B@', pageSize: 10 }, NOW);
      expect(prefixed.suppressions.map(({ address, scope }) => `${address} ${scope}`)).toEqual([
        'b@example.com billing',
        'b@example.org *',
      ]);
    });

    it('refuses a page token it did not hand out, naming page_token', async () => {
      for (const pageToken of ['garbage!', Buffer.from('{"a":1}').toString('base64url'), 'WyJhIl0']) {
        const error = await problemOf(sut.list({ pageSize: 10, pageToken }, NOW));
        expect(error.code).toBe(ErrorCode.InvalidArgument);
        expect(error.message).toMatch(/^page_token: /);
      }
    });
  });

  describe('addManual', () => {
    it('adds a manual entry, then replaces its note and expiry but keeps when it was added', async () => {
      const first = await sut.addManual(
        { address: 'M@example.com', scope: 'billing', origin: 'ticket 1', expiresAt: null },
        NOW,
      );
      expect(first).toEqual({
        address: 'm@example.com',
        scope: 'billing',
        reason: SuppressionReason.Manual,
        origin: 'ticket 1',
        createdAt: NOW,
        expiresAt: null,
      });

      const second = await sut.addManual(
        { address: 'm@example.com', scope: 'billing', origin: 'ticket 2', expiresAt: NOW + 1000 },
        NOW + 10,
      );
      expect(second).toEqual({ ...first, origin: 'ticket 2', expiresAt: NOW + 1000 });
    });

    it('refuses ALREADY_EXISTS for an entry of another reason and leaves it as it is', async () => {
      await add([entry('h@example.com', SuppressionReason.HardBounce)]);

      const error = await problemOf(
        sut.addManual({ address: 'h@example.com', scope: ALL_SOURCES, origin: 'note', expiresAt: null }, NOW),
      );

      expect(error.problem).toBe(SuppressionProblem.SuppressedForAnotherReason);
      expect(error.code).toBe(ErrorCode.AlreadyExists);
      expect(error.message).toContain('hard_bounce');
      expect((await sut.find('x', ['h@example.com'], undefined, NOW)).get('h@example.com')?.origin).toBe(
        'test:hard_bounce',
      );
    });

    it('replaces an expired entry of any reason', async () => {
      await add([entry('e@example.com', SuppressionReason.Complaint, { expiresAt: NOW })]);

      const added = await sut.addManual(
        { address: 'e@example.com', scope: ALL_SOURCES, origin: 'note', expiresAt: null },
        NOW + 1,
      );

      expect(added).toMatchObject({ reason: SuppressionReason.Manual, createdAt: NOW + 1 });
    });
  });

  describe('remove', () => {
    it('lifts an entry and returns it as it was', async () => {
      await add([entry('r@example.com', SuppressionReason.HardBounce, { scope: 'crm' })]);

      const removed = await sut.remove(
        { address: 'R@example.com', scope: 'crm', force: false, reason: '' },
        NOW,
      );

      expect(removed).toMatchObject({
        address: 'r@example.com',
        scope: 'crm',
        reason: SuppressionReason.HardBounce,
      });
      expect(await database.count('suppression_entry')).toBe(0);
    });

    it('logs the removal with a short hash of the address, never the address', async () => {
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      try {
        await add([entry('private.person@example.com', SuppressionReason.Complaint)]);
        await sut.remove(
          { address: 'private.person@example.com', scope: ALL_SOURCES, force: true, reason: 'ticket 12' },
          NOW,
        );

        const lines = log.mock.calls.map(([message]) => String(message));
        expect(lines).toEqual([
          expect.stringMatching(
            /^Lifted suppression of address sha256:[0-9a-f]{12} in scope "\*" \(was complaint, forced\): "ticket 12"$/,
          ),
        ]);
        expect(lines[0]).not.toContain('private');
      } finally {
        log.mockRestore();
      }
    });

    it('answers NOT_FOUND for no entry, one in another scope, or one that expired', async () => {
      await add([
        entry('other@example.com', SuppressionReason.Manual, { scope: 'crm' }),
        entry('old@example.com', SuppressionReason.Manual, { expiresAt: NOW }),
      ]);

      for (const address of ['none@example.com', 'other@example.com', 'old@example.com']) {
        const error = await problemOf(
          sut.remove({ address, scope: ALL_SOURCES, force: false, reason: '' }, NOW),
        );
        expect(error.code).toBe(ErrorCode.NotFound);
      }
      expect(await database.count('suppression_entry')).toBe(2);
    });

    it.each([SuppressionReason.Complaint, SuppressionReason.Unsubscribe])(
      'lifts a %s only with force and a reason',
      async (reason) => {
        await add([entry('asked@example.com', reason)]);
        const attempts = [
          { force: false, reason: 'customer called' },
          { force: true, reason: '' },
          { force: true, reason: '   ' },
        ];

        for (const attempt of attempts) {
          const error = await problemOf(
            sut.remove({ address: 'asked@example.com', scope: ALL_SOURCES, ...attempt }, NOW),
          );
          expect(error.code).toBe(ErrorCode.FailedPrecondition);
          expect(error.message).toContain('force and a reason');
        }
        expect(await database.count('suppression_entry')).toBe(1);

        const removed = await sut.remove(
          {
            address: 'asked@example.com',
            scope: ALL_SOURCES,
            force: true,
            reason: 'customer asked again (ticket 7)',
          },
          NOW,
        );
        expect(removed.reason).toBe(reason);
        expect(await database.count('suppression_entry')).toBe(0);
      },
    );
  });

  describe('erased addresses, kept as their hash', () => {
    const hasher = {
      hash: (address: string) => `h:${address.length.toString(16).padStart(64, '0')}`,
      isHash: (text: string) => text.startsWith('h:'),
    };
    const HASH = hasher.hash('erased@example.com');
    const hashing = () => new SuppressionList(database.transactions, hasher);

    it('keeps the live entries as the hash, drops lapsed ones, and redacts their notes', async () => {
      await add([
        entry('erased@example.com', SuppressionReason.Complaint, { origin: 'from erased@example.com' }),
        entry('erased@example.com', SuppressionReason.Manual, { scope: 'billing', expiresAt: NOW + 1000 }),
        entry('erased@example.com', SuppressionReason.Manual, { scope: 'crm', expiresAt: NOW - 1 }),
      ]);
      const kept = await database.transactions.run((manager) =>
        hashing().keepAsHash(
          manager,
          'Erased@Example.com',
          HASH,
          (origin) => origin.replace('erased@example.com', HASH),
          NOW,
        ),
      );

      expect(kept).toBe(2);
      const rows = await database.dataSource.query(
        'SELECT address, scope, reason, origin, expires_at FROM suppression_entry ORDER BY scope',
      );
      expect(
        rows.map((row: Record<string, unknown>) => ({
          ...row,
          expires_at: row.expires_at === null ? null : Number(row.expires_at),
        })),
      ).toEqual([
        {
          address: HASH,
          scope: ALL_SOURCES,
          reason: SuppressionReason.Complaint,
          origin: `from ${HASH}`,
          expires_at: null,
        },
        {
          address: HASH,
          scope: 'billing',
          reason: SuppressionReason.Manual,
          origin: 'test:manual',
          expires_at: NOW + 1000,
        },
      ]);
    });

    it('finds them by the address, in the same statement as plain entries, and names the address asked for', async () => {
      await add([
        entry(HASH, SuppressionReason.Complaint),
        entry('plain@example.com', SuppressionReason.HardBounce),
      ]);

      const statements = jest.spyOn(database.dataSource.manager, 'query');
      const found = await hashing().find(
        'billing',
        ['ERASED@example.com', 'plain@example.com', 'free@example.com'],
        undefined,
        NOW,
      );

      expect([...found.entries()]).toEqual([
        [
          'erased@example.com',
          expect.objectContaining({ address: 'erased@example.com', reason: SuppressionReason.Complaint }),
        ],
        [
          'plain@example.com',
          expect.objectContaining({ address: 'plain@example.com', reason: SuppressionReason.HardBounce }),
        ],
      ]);
      expect(statements).toHaveBeenCalledTimes(1);
      statements.mockRestore();
      // Without the hasher only plain entries match: the hash is what finds an erased address.
      expect([...(await sut.find('billing', ['erased@example.com'], undefined, NOW)).keys()]).toEqual([]);
    });

    it('finds them through the filter by the address, the hash being what the filter holds', async () => {
      const list = hashing();
      try {
        await filterReady(list);
        await database.transactions.run((manager) =>
          list.add(manager, [entry(HASH, SuppressionReason.Complaint)]),
        );

        expect(await findCounted(list, ['Erased@example.com', 'free@example.com'])).toEqual({
          found: ['erased@example.com'],
          statements: 1,
        });
      } finally {
        await list.onModuleDestroy();
      }
    });

    it("works out each recipient's hash for the filter only once an erased address's entry may be listed", async () => {
      const counting = { ...hasher, hash: jest.fn(hasher.hash) };
      const list = new SuppressionList(database.transactions, counting);
      try {
        await filterReady(list);
        counting.hash.mockClear();

        expect(await findCounted(list, ['free@example.com'])).toEqual({ found: [], statements: 0 });
        expect(counting.hash).not.toHaveBeenCalled();

        await database.transactions.run((manager) =>
          list.add(manager, [entry(HASH, SuppressionReason.Complaint)]),
        );
        expect(await findCounted(list, ['Erased@example.com', 'free@example.com'])).toEqual({
          found: ['erased@example.com'],
          statements: 1,
        });
        expect(counting.hash).toHaveBeenCalledWith('erased@example.com');
      } finally {
        await list.onModuleDestroy();
      }
    });

    it('lifts an entry kept as the hash by the address, with force for a complaint as before', async () => {
      await add([entry(HASH, SuppressionReason.Complaint)]);
      const removal = { address: 'Erased@example.com', scope: ALL_SOURCES, force: false, reason: '' };

      expect((await problemOf(hashing().remove(removal, NOW))).problem).toBe(
        SuppressionProblem.ForceRequired,
      );
      expect((await problemOf(sut.remove({ ...removal, force: true, reason: 'r' }, NOW))).problem).toBe(
        SuppressionProblem.EntryNotFound,
      );
      const removed = await hashing().remove(
        { ...removal, force: true, reason: 'asked to resubscribe' },
        NOW,
      );

      expect(removed).toMatchObject({ address: HASH, reason: SuppressionReason.Complaint });
      expect(await database.count('suppression_entry')).toBe(0);
    });

    it('keeps the stronger reason where the hash already has an entry (an earlier erasure)', async () => {
      await add([
        entry(HASH, SuppressionReason.HardBounce),
        entry('erased@example.com', SuppressionReason.Complaint),
      ]);
      await database.transactions.run((manager) =>
        hashing().keepAsHash(manager, 'erased@example.com', HASH, (origin) => origin, NOW),
      );
      await add([entry('erased@example.com', SuppressionReason.Manual)]);
      await database.transactions.run((manager) =>
        hashing().keepAsHash(manager, 'erased@example.com', HASH, (origin) => origin, NOW),
      );

      expect(await database.dataSource.query('SELECT address, reason FROM suppression_entry')).toEqual([
        { address: HASH, reason: SuppressionReason.Complaint },
      ]);
    });
  });
});

/** Until a statement of another connection waits on a row lock (the second replica's INSERT). */
async function waitForLockWait(database: MigratedTestDatabase): Promise<void> {
  for (;;) {
    const [{ waiting }] = (await database.dataSource.query(
      `SELECT COUNT(*) AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO suppression_entry%'`,
    )) as [{ waiting: string }];
    if (Number(waiting) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
