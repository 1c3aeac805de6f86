import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { FeedSignal } from '../feed/feed-signal';
import { OutboxLeases } from '../leases/outbox-leases';
import { MessageEventType, MessageStatus } from '../message-status';
import { OutboxSchedule } from './outbox-schedule';

const CONFIG = { maxQueuedMessages: 5_000, messageMaxAgeMs: 3_600_000 };

describe.each(DATABASE_KINDS)(`${OutboxSchedule.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let leases: OutboxLeases;
  let sut: OutboxSchedule;

  const enqueue = async (sendAt: number | null = null, source = 'billing') => {
    const [result] = await enqueuer.enqueue([{ source, idempotencyKey: null, mail: aMail(), sendAt }]);
    return (result as { messageId: string }).messageId;
  };
  const stateOf = async (id: string) => {
    const placeholder = kind === 'postgres' ? '$1' : '?';
    const [row] = await database.dataSource.query(
      `SELECT status, attempts, next_attempt_at, expires_at, send_at FROM outbox_message WHERE id = ${placeholder}`,
      [id],
    );
    const events: { type: MessageEventType }[] = await database.dataSource.query(
      `SELECT type FROM message_event WHERE message_id = ${placeholder} ORDER BY sequence`,
      [id],
    );
    return { ...row, events: events.map((event) => event.type) };
  };

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    const signal = new FeedSignal(database.transactions);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      CONFIG,
      signal,
      testContentSealer(),
      testContentFingerprinter(),
    );
    leases = new OutboxLeases(database.transactions, signal, testContentSealer());
    sut = new OutboxSchedule(database.transactions, CONFIG, signal);
  });
  afterEach(() => database.close());

  it('keeps a scheduled message out of claims until due, its expiry counted from then', async () => {
    const sendAt = Date.now() + 60_000;
    const id = await enqueue(sendAt);

    expect(await leases.claimDue(10, 60_000)).toEqual([]);
    expect(await stateOf(id)).toMatchObject({ status: MessageStatus.Scheduled });
    const { expires_at, next_attempt_at } = await stateOf(id);
    expect(Number(next_attempt_at)).toBe(sendAt);
    expect(Number(expires_at)).toBe(sendAt + CONFIG.messageMaxAgeMs);
  });

  it('cancels what no attempt holds, and a cancelled message is never claimed', async () => {
    const waiting = await enqueue(Date.now() + 60_000);
    const due = await enqueue();

    const results = await sut.cancel('billing', [waiting, due, waiting]);

    expect(results.map((result) => result.kind)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(await leases.claimDue(10, 60_000)).toEqual([]);
    expect(await stateOf(due)).toMatchObject({
      status: MessageStatus.Cancelled,
      events: [MessageEventType.Accepted, MessageEventType.Cancelled],
    });
    expect((await sut.cancel('billing', [due]))[0]).toEqual({
      kind: 'final',
      status: MessageStatus.Cancelled,
    });
    expect((await sut.cancel('crm', [waiting]))[0]).toEqual({ kind: 'not-found' });
  });

  it('refuses to cancel a claimed message, and stops its retry', async () => {
    const id = await enqueue();
    const [claim] = await leases.claimDue(10, 60_000);

    expect((await sut.cancel('billing', [id]))[0]).toEqual({ kind: 'being-sent', attempt: 1 });
    await leases.complete(
      claim,
      { status: MessageStatus.Retrying, provider: 'p', nextAttemptAt: Date.now(), error: '503' },
      'retry',
    );

    expect(await leases.claimDue(10, 60_000)).toEqual([]);
    expect(await stateOf(id)).toMatchObject({
      status: MessageStatus.Cancelled,
      attempts: 1,
      events: [
        MessageEventType.Accepted,
        MessageEventType.AttemptStarted,
        MessageEventType.CancelRequested,
        MessageEventType.Cancelled,
      ],
    });
  });

  it('ends a cancel-requested message whose attempt never reported back instead of trying it again', async () => {
    const id = await enqueue();
    const [claim] = await leases.claimDue(10, 1);
    await sut.cancel('billing', [id]);
    await new Promise((resolve) => setTimeout(resolve, 5));

    expect(await leases.claimDue(10, 60_000)).toEqual([]);
    const late = await leases.complete(
      claim,
      { status: MessageStatus.Delivered, provider: 'p', providerMessageId: 'x' },
      'late',
    );

    expect(late).toBe(false);
    expect(await stateOf(id)).toMatchObject({ status: MessageStatus.Cancelled, attempts: 1 });
  });

  it('moves the send time of a waiting message, and refuses one an attempt holds', async () => {
    const id = await enqueue(Date.now() + 60_000);
    const later = Date.now() + 120_000;

    expect(await sut.reschedule('billing', id, later)).toEqual({
      kind: 'rescheduled',
      status: MessageStatus.Scheduled,
      sendAt: later,
    });
    expect(await sut.reschedule('billing', id, Date.now() - 1_000)).toMatchObject({
      status: MessageStatus.Queued,
    });
    const [claim] = await leases.claimDue(10, 60_000);
    expect(claim.id).toBe(id);
    expect(await sut.reschedule('billing', id, later)).toEqual({ kind: 'being-sent', attempt: 1 });
    expect((await stateOf(id)).events).toEqual([
      MessageEventType.Accepted,
      MessageEventType.Rescheduled,
      MessageEventType.Rescheduled,
      MessageEventType.AttemptStarted,
    ]);
  });
});
