import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  waitFor,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import type { TransactionRunner } from '@mailgateway/database';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { FeedSignal } from '../feed/feed-signal';
import { MessageEventType } from '../message-status';
import { applyRecipientUpdates, RecipientUpdate } from './recipient-outcomes';
import { RecipientState } from './recipient-state';

describe.each(DATABASE_KINDS)(`${applyRecipientUpdates.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 60_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
  });
  afterAll(() => database.close());

  async function aMessage(): Promise<string> {
    const [result] = await enqueuer.enqueue([
      {
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({
          to: [
            { address: 'ann@example.com', name: '' },
            { address: 'bob@example.com', name: '' },
          ],
        }),
      },
    ]);
    if (result.kind !== 'accepted') throw new Error('not accepted');
    return result.messageId;
  }

  function update(messageId: string, fields: Partial<RecipientUpdate>): RecipientUpdate {
    return {
      messageId,
      source: 'billing',
      address: 'ann@example.com',
      state: RecipientState.Delivered,
      detail: '250 ok',
      occurredAt: 1_000,
      provider: 'postmark',
      ...fields,
    };
  }

  function apply(transactions: TransactionRunner, updates: RecipientUpdate[]): Promise<RecipientUpdate[]> {
    return transactions.run((manager) => applyRecipientUpdates(manager, transactions.dialect, updates));
  }

  async function recipientEvents(messageId: string) {
    const rows: { type: string; recipient: string; detail: string; occurred_at: number | string }[] =
      await database.dataSource.query(
        `SELECT type, recipient, detail, occurred_at FROM message_event
          WHERE message_id = '${messageId}' AND recipient IS NOT NULL ORDER BY sequence`,
      );
    return rows.map((row) => [row.type, row.recipient, row.detail, Number(row.occurred_at)]);
  }

  it('appends one event per change, the bounce class leading its detail, and returns the changes', async () => {
    const messageId = await aMessage();

    const changed = await apply(database.transactions, [
      update(messageId, { state: RecipientState.Deferred, detail: '421 later', occurredAt: 1_000 }),
      update(messageId, {
        address: 'Bob@Example.com',
        state: RecipientState.BouncedHard,
        detail: '550 5.1.1 gone',
      }),
      update(messageId, { state: RecipientState.Delivered, occurredAt: 2_000 }),
      update(messageId, { state: RecipientState.Deferred, detail: 'stale', occurredAt: 1_500 }),
    ]);

    expect(changed.map(({ state }) => state)).toEqual([
      RecipientState.Deferred,
      RecipientState.BouncedHard,
      RecipientState.Delivered,
    ]);
    expect(await recipientEvents(messageId)).toEqual([
      [MessageEventType.RecipientDeferred, 'ann@example.com', '421 later', 1_000],
      [MessageEventType.RecipientBounced, 'bob@example.com', 'hard: 550 5.1.1 gone', 1_000],
      [MessageEventType.RecipientDelivered, 'ann@example.com', '250 ok', 2_000],
    ]);
  });

  it('reads what earlier transactions recorded: duplicates and overruled updates insert nothing', async () => {
    const messageId = await aMessage();
    await apply(database.transactions, [
      update(messageId, { state: RecipientState.Complained, detail: 'spam' }),
    ]);

    const changed = await apply(database.transactions, [
      update(messageId, { state: RecipientState.Complained, detail: 'spam' }),
      update(messageId, { state: RecipientState.Delivered, occurredAt: 5_000 }),
      update(messageId, { state: RecipientState.BouncedHard, occurredAt: 5_000 }),
    ]);

    expect(changed).toEqual([]);
    expect(await recipientEvents(messageId)).toEqual([
      [MessageEventType.RecipientComplained, 'ann@example.com', 'spam', 1_000],
    ]);
  });

  it('lets a soft bounce recorded earlier give way to a later delivery, and only for that recipient', async () => {
    const messageId = await aMessage();
    await apply(database.transactions, [
      update(messageId, { state: RecipientState.BouncedSoft, detail: 'mailbox full', occurredAt: 1_000 }),
      update(messageId, { address: 'bob@example.com', state: RecipientState.BouncedSoft, occurredAt: 1_000 }),
    ]);

    const changed = await apply(database.transactions, [update(messageId, { occurredAt: 3_000 })]);

    expect(changed).toHaveLength(1);
    expect((await recipientEvents(messageId)).map(([type, recipient]) => [type, recipient])).toEqual([
      [MessageEventType.RecipientBounced, 'ann@example.com'],
      [MessageEventType.RecipientBounced, 'bob@example.com'],
      [MessageEventType.RecipientDelivered, 'ann@example.com'],
    ]);
  });

  it('refuses to record a state that is only derived, and records nothing', async () => {
    const messageId = await aMessage();

    await expect(
      apply(database.transactions, [
        update(messageId, {}),
        update(messageId, { state: RecipientState.Sent }),
      ]),
    ).rejects.toThrow('derived state sent');
    expect(await recipientEvents(messageId)).toEqual([]);
  });

  it('serialises concurrent applies on one message from two transactions into one consistent history', async () => {
    const messageId = await aMessage();
    const other = kind === 'postgres' ? (await database.openReplica()).transactions : database.transactions;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let applied!: () => void;
    const firstApplied = new Promise<void>((resolve) => (applied = resolve));

    // The first transaction records a delivery and stays open while the second applies the same
    // delivery and a complaint: the second must see the first's event, whichever commits when.
    const first = database.transactions.run(async (manager) => {
      const changed = await applyRecipientUpdates(manager, database.transactions.dialect, [
        update(messageId, {}),
      ]);
      applied();
      await released;
      return changed;
    });
    await firstApplied;
    const second = apply(other, [
      update(messageId, {}),
      update(messageId, { state: RecipientState.Complained, detail: 'spam', occurredAt: 500 }),
    ]);
    if (kind === 'postgres') {
      await waitFor('the second transaction to wait for the message lock', async () => {
        const [{ waiting }] = await database.dataSource.query(
          `SELECT COUNT(*) AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
        );
        return Number(waiting) > 0 ? true : undefined;
      });
    }
    release();

    expect((await first).map(({ state }) => state)).toEqual([RecipientState.Delivered]);
    expect((await second).map(({ state }) => state)).toEqual([RecipientState.Complained]);
    expect(await recipientEvents(messageId)).toEqual([
      [MessageEventType.RecipientDelivered, 'ann@example.com', '250 ok', 1_000],
      [MessageEventType.RecipientComplained, 'ann@example.com', 'spam', 500],
    ]);
  });
});
