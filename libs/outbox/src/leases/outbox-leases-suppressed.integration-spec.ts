import { setTimeout as sleep } from 'node:timers/promises';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { SuppressedRecipient } from '../enqueue/suppressed-recipient';
import { FeedSignal } from '../feed/feed-signal';
import { MessageEventType, MessageStatus } from '../message-status';
import { OutboxLeases } from './outbox-leases';

const LEASE_MS = 60_000;
const ADA: SuppressedRecipient = { address: 'ada@example.org', reason: 'complaint', scope: '*' };
const BOB: SuppressedRecipient = { address: 'bob@example.org', reason: 'hard_bounce', scope: 'billing' };

describe.each(DATABASE_KINDS)(`${OutboxLeases.name}, suppressed recipients at claim, on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let sut: OutboxLeases;
  const p = (index: number) => (kind === 'postgres' ? `$${index}` : '?');

  const enqueueOne = async (): Promise<string> => {
    const mail = aMail({
      to: [
        { address: 'ada@example.org', name: 'Ada' },
        { address: 'bob@example.org', name: 'Bob' },
      ],
    });
    const [result] = await enqueuer.enqueue([{ source: 'billing', idempotencyKey: null, mail }]);
    return (result as { messageId: string }).messageId;
  };
  const row = async (id: string) =>
    (
      await database.dataSource.query(
        `SELECT status, last_error, provider FROM outbox_message WHERE id = ${p(1)}`,
        [id],
      )
    )[0];
  const events = (
    id: string,
  ): Promise<{ type: string; attempt: number; detail: string; recipient: string | null }[]> =>
    database.dataSource.query(
      `SELECT type, attempt, detail, recipient FROM message_event WHERE message_id = ${p(1)} ORDER BY sequence`,
      [id],
    );

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 3_600_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    sut = new OutboxLeases(database.transactions, new FeedSignal(database.transactions), testContentSealer());
  });
  afterEach(() => database.close());

  it('ends a message whose every recipient is suppressed SUPPRESSED, after an event for each recipient', async () => {
    const id = await enqueueOne();
    const [claim] = await sut.claimDue(1, LEASE_MS);

    const recorded = await sut.complete(
      claim,
      { status: MessageStatus.Suppressed, provider: null, suppressedRecipients: [ADA, BOB] },
      'suppressed: not sent',
    );

    expect(recorded).toBe(true);
    expect(await row(id)).toMatchObject({
      status: MessageStatus.Suppressed,
      last_error: null,
      provider: null,
    });
    expect(await events(id)).toEqual([
      { type: MessageEventType.Accepted, attempt: 0, detail: 'accepted', recipient: null },
      { type: MessageEventType.AttemptStarted, attempt: 1, detail: 'attempt 1', recipient: null },
      {
        type: MessageEventType.RecipientSuppressed,
        attempt: 1,
        detail: 'suppressed (complaint, scope *)',
        recipient: 'ada@example.org',
      },
      {
        type: MessageEventType.RecipientSuppressed,
        attempt: 1,
        detail: 'suppressed (hard_bounce, scope billing)',
        recipient: 'bob@example.org',
      },
      { type: MessageEventType.Suppressed, attempt: 1, detail: 'suppressed: not sent', recipient: null },
    ]);
    expect(await sut.claimDue(10, LEASE_MS)).toEqual([]);
  });

  it("records the recipients an attempt left out before the attempt's own outcome", async () => {
    const id = await enqueueOne();
    const [claim] = await sut.claimDue(1, LEASE_MS);

    await sut.complete(
      claim,
      {
        status: MessageStatus.Delivered,
        provider: 'sandbox',
        providerMessageId: 'p-1',
        suppressedRecipients: [ADA],
      },
      'delivered by sandbox',
    );

    expect((await row(id)).status).toBe(MessageStatus.Delivered);
    expect((await events(id)).slice(2).map(({ type, recipient }) => [type, recipient])).toEqual([
      [MessageEventType.RecipientSuppressed, 'ada@example.org'],
      [MessageEventType.Delivered, null],
    ]);
  });

  it('records a recipient suppressed on every attempt once', async () => {
    const id = await enqueueOne();
    const [first] = await sut.claimDue(1, LEASE_MS);
    await sut.complete(
      first,
      {
        status: MessageStatus.Retrying,
        provider: 'sandbox',
        nextAttemptAt: 0,
        error: 'busy',
        suppressedRecipients: [ADA],
      },
      'busy; retry',
    );
    const [second] = await sut.claimDue(1, LEASE_MS);
    await sut.complete(
      second,
      { status: MessageStatus.Suppressed, provider: null, suppressedRecipients: [ADA, BOB] },
      'suppressed: not sent',
    );

    const suppressed = (await events(id)).filter(({ type }) => type === MessageEventType.RecipientSuppressed);
    expect(suppressed.map(({ recipient, attempt }) => [recipient, attempt])).toEqual([
      ['ada@example.org', 1],
      ['bob@example.org', 2],
    ]);
    expect((await row(id)).status).toBe(MessageStatus.Suppressed);
  });

  it('records nothing for an attempt whose lease ran out and was claimed again', async () => {
    const id = await enqueueOne();
    const [stale] = await sut.claimDue(1, 1);
    await sleep(5);
    const [current] = await sut.claimDue(1, LEASE_MS);

    const recorded = await sut.complete(
      stale,
      { status: MessageStatus.Suppressed, provider: null, suppressedRecipients: [ADA, BOB] },
      'suppressed: not sent',
    );

    expect(recorded).toBe(false);
    expect(current.leaseToken).toBe(stale.leaseToken + 1);
    expect((await row(id)).status).toBe(MessageStatus.Sending);
    expect((await events(id)).filter(({ recipient }) => recipient !== null)).toEqual([]);
  });
});
