import { aMail, DATABASE_KINDS, MigratedTestDatabase, openMigratedTestDatabase } from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { OutboxLeases } from '../leases/outbox-leases';
import { MessageEventType, MessageStatus } from '../message-status';
import { FeedSignal } from '../feed/feed-signal';
import { OutboxHistory } from './outbox-history';

describe.each(DATABASE_KINDS)(`${OutboxHistory.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: OutboxHistory;
  let messageId: string;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new OutboxHistory(database.transactions);
    const enqueuer = new OutboxEnqueuer(
      database.transactions,
      {
        maxQueuedMessages: 5_000,
        messageMaxAgeMs: 60_000,
      },
      new FeedSignal(database.transactions),
    );
    [{ messageId }] = (await enqueuer.enqueue([
      { source: 'billing', idempotencyKey: null, mail: aMail() },
    ])) as { messageId: string }[];
    const leases = new OutboxLeases(database.transactions, new FeedSignal(database.transactions));
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
