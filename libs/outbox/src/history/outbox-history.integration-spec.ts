import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { OutboxLeases } from '../leases/outbox-leases';
import { MessageEventType, MessageStatus } from '../message-status';
import { FeedSignal } from '../feed/feed-signal';
import { applyRecipientUpdates } from '../recipients/recipient-outcomes';
import { RecipientState } from '../recipients/recipient-state';
import { OutboxHistory } from './outbox-history';

describe.each(DATABASE_KINDS)(`${OutboxHistory.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxHistory;
  let messageId: string;
  let enqueuer: OutboxEnqueuer;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxHistory(database.transactions);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      {
        maxQueuedMessages: 5_000,
        messageMaxAgeMs: 60_000,
      },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    [{ messageId }] = (await enqueuer.enqueue([
      { source: 'billing', idempotencyKey: null, mail: aMail() },
    ])) as { messageId: string }[];
    const leases = new OutboxLeases(
      database.transactions,
      new FeedSignal(database.transactions),
      testContentSealer(),
    );
    const [claim] = await leases.claimDue(1, 60_000);
    await leases.complete(
      claim,
      { status: MessageStatus.Delivered, provider: 'sandbox', providerMessageId: 'sandbox-1' },
      'delivered',
    );
  });
  afterAll(() => database.close());

  it('reads the message and its events in the order they happened', async () => {
    const history = await sut.find('billing', messageId);

    expect(history?.message).toMatchObject({
      id: messageId,
      source: 'billing',
      status: MessageStatus.Delivered,
      attempts: 1,
      provider: 'sandbox',
      providerMessageId: 'sandbox-1',
    });
    expect(history?.events.map(({ type, attempt }) => [type, attempt])).toEqual([
      [MessageEventType.Accepted, 0],
      [MessageEventType.AttemptStarted, 1],
      [MessageEventType.Delivered, 1],
    ]);
    const sequences = history!.events.map(({ sequence }) => sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(typeof history!.message.acceptedAt).toBe('number');
  });

  it('finds nothing for another source, exactly as for an id that does not exist', async () => {
    expect(await sut.find('crm', messageId)).toBeNull();
    expect(await sut.find('billing', '00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});

describe.each(DATABASE_KINDS)(`${OutboxHistory.name} recipients on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxHistory;
  let enqueuer: OutboxEnqueuer;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxHistory(database.transactions);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 60_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
  });
  afterAll(() => database.close());

  const person = (address: string) => ({ address, name: '' });

  async function send(): Promise<string> {
    const [result] = await enqueuer.enqueue([
      {
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({
          to: [person('Ann@Example.com'), person('bob@example.com')],
          cc: [person('ann@example.com'), person('cy@example.com')],
          bcc: [person('dee@example.com')],
        }),
      },
    ]);
    if (result.kind !== 'accepted') throw new Error('not accepted');
    return result.messageId;
  }

  it('lists to, cc, then bcc lowercased and once each, pending while the message waits', async () => {
    const messageId = await send();

    const history = await sut.find('billing', messageId);

    expect(history?.recipients).toEqual(
      ['ann@example.com', 'bob@example.com', 'cy@example.com', 'dee@example.com'].map((address) => ({
        address,
        state: RecipientState.Pending,
        detail: '',
        updatedAt: null,
        provider: null,
      })),
    );
  });

  it('gives recipients with events their folded state, the others sent once the message is delivered', async () => {
    const messageId = await send();
    const leases = new OutboxLeases(
      database.transactions,
      new FeedSignal(database.transactions),
      testContentSealer(),
    );
    const claim = (await leases.claimDue(10, 60_000)).find(({ id }) => id === messageId)!;
    await leases.complete(
      claim,
      { status: MessageStatus.Delivered, provider: 'postmark', providerMessageId: 'pm-1' },
      'delivered',
    );
    const about = { messageId, source: 'billing', provider: 'postmark' };
    await database.transactions.run((manager) =>
      applyRecipientUpdates(manager, database.transactions.dialect, [
        {
          ...about,
          address: 'bob@example.com',
          state: RecipientState.BouncedHard,
          detail: '550 5.1.1 gone',
          occurredAt: 2_000,
        },
        {
          ...about,
          address: 'cy@example.com',
          state: RecipientState.Complained,
          detail: 'abuse',
          occurredAt: 3_000,
        },
        {
          ...about,
          address: 'cy@example.com',
          state: RecipientState.Delivered,
          detail: 'late',
          occurredAt: 4_000,
        },
        {
          ...about,
          address: 'eve@example.com',
          state: RecipientState.Suppressed,
          detail: 'hard_bounce',
          occurredAt: 1_000,
        },
      ]),
    );

    const history = await sut.find('billing', messageId);

    expect(
      history?.recipients.map(({ address, state, detail, updatedAt }) => [address, state, detail, updatedAt]),
    ).toEqual([
      ['ann@example.com', RecipientState.Sent, '', null],
      ['bob@example.com', RecipientState.BouncedHard, '550 5.1.1 gone', 2_000],
      ['cy@example.com', RecipientState.Complained, 'abuse', 3_000],
      ['dee@example.com', RecipientState.Sent, '', null],
      ['eve@example.com', RecipientState.Suppressed, 'hard_bounce', 1_000],
    ]);
  });

  it('counts every recipient without events of a SUPPRESSED message as suppressed', async () => {
    const messageId = await send();
    await database.dataSource.query(
      `UPDATE outbox_message SET status = '${MessageStatus.Suppressed}' WHERE id = '${messageId}'`,
    );

    const history = await sut.find('billing', messageId);

    expect(new Set(history?.recipients.map(({ state }) => state))).toEqual(
      new Set([RecipientState.Suppressed]),
    );
  });
});
