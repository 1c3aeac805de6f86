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
import { MessageEventType, MessageStatus } from '../message-status';
import { FeedSignal } from '../feed/feed-signal';
import { ClaimedMessage, OutboxLeases } from './outbox-leases';

const LEASE_MS = 60_000;

describe.each(DATABASE_KINDS)(`${OutboxLeases.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let sut: OutboxLeases;

  const enqueue = async (count: number): Promise<string[]> => {
    const results = await enqueuer.enqueue(
      Array.from({ length: count }, (_, index) => ({
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({ subject: `message ${index}` }),
      })),
    );
    return results.map((result) => (result as { messageId: string }).messageId);
  };
  const row = async (id: string) => {
    const [found] = await database.dataSource.query(
      `SELECT status, attempts, lease_token, next_attempt_at, provider, provider_message_id, last_error
         FROM outbox_message WHERE id = ${kind === 'postgres' ? '$1' : '?'}`,
      [id],
    );
    return { ...found, next_attempt_at: Number(found.next_attempt_at) };
  };
  const events = async (id: string): Promise<{ type: string; attempt: number; detail: string }[]> =>
    database.dataSource.query(
      `SELECT type, attempt, detail FROM message_event WHERE message_id = ${kind === 'postgres' ? '$1' : '?'}
        ORDER BY sequence`,
      [id],
    );
  const delivered = (provider = 'sandbox', providerMessageId: string | null = 'provider-1') =>
    ({ status: MessageStatus.Delivered, provider, providerMessageId }) as const;

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      {
        maxQueuedMessages: 5_000,
        messageMaxAgeMs: 3_600_000,
      },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    sut = new OutboxLeases(database.transactions, new FeedSignal(database.transactions), testContentSealer());
  });
  afterEach(() => database.close());

  it('claims due messages for one attempt each, raising the fencing token, and never twice while leased', async () => {
    const [id] = await enqueue(1);
    const before = Date.now();

    const [claim] = await sut.claimDue(10, LEASE_MS);
    const again = await sut.claimDue(10, LEASE_MS);

    expect(claim).toMatchObject({ id, source: 'billing', attempt: 1, leaseToken: 1 });
    expect(claim.mail.subject).toBe('message 0');
    expect(again).toEqual([]);
    const claimed = await row(id);
    expect(claimed).toMatchObject({ status: MessageStatus.Sending, attempts: 1, lease_token: 1 });
    expect(claimed.next_attempt_at).toBeGreaterThanOrEqual(before + LEASE_MS);
    expect((await events(id)).map(({ type }) => type)).toEqual([
      MessageEventType.Accepted,
      MessageEventType.AttemptStarted,
    ]);
  });

  it('claims no more than asked, oldest due first, and nothing not yet due', async () => {
    const [newest, oldest, middle, later] = await enqueue(4);
    const now = Date.now();
    const dueAt = async (id: string, at: number) =>
      database.dataSource.query(
        `UPDATE outbox_message SET next_attempt_at = ${at} WHERE id = ${kind === 'postgres' ? '$1' : '?'}`,
        [id],
      );
    await dueAt(newest, now - 1_000);
    await dueAt(oldest, now - 3_000);
    await dueAt(middle, now - 2_000);
    await dueAt(later, now + 60_000);

    expect((await sut.claimDue(1, LEASE_MS)).map(({ id }) => id)).toEqual([oldest]);
    expect((await sut.claimDue(1, LEASE_MS)).map(({ id }) => id)).toEqual([middle]);
    expect((await sut.claimDue(10, LEASE_MS)).map(({ id }) => id)).toEqual([newest]);
    expect(await sut.claimDue(10, LEASE_MS)).toEqual([]);
  });

  it('records the outcome of the attempt that holds the lease, with its event', async () => {
    const [id] = await enqueue(1);
    const [claim] = await sut.claimDue(1, LEASE_MS);

    expect(await sut.complete(claim, delivered(), 'delivered by sandbox')).toBe(true);

    expect(await row(id)).toMatchObject({
      status: MessageStatus.Delivered,
      provider: 'sandbox',
      provider_message_id: 'provider-1',
      last_error: null,
    });
    expect((await events(id)).at(-1)).toEqual({
      type: MessageEventType.Delivered,
      attempt: 1,
      detail: 'delivered by sandbox',
    });
    // Final: never claimed again, however long one waits.
    expect(await sut.claimDue(10, 1)).toEqual([]);
  });

  it('records the recipients refused beside a delivery as events of their own, naming the driver', async () => {
    const [id] = await enqueue(1);
    const [claim] = await sut.claimDue(1, LEASE_MS);
    const refusedRecipients = [
      { address: 'gone@example.com', detail: 'refused by smtp: 550 5.1.1 no such user' },
    ];

    expect(await sut.complete(claim, { ...delivered('smtp'), refusedRecipients }, 'delivered by smtp')).toBe(
      true,
    );

    const history = await database.dataSource.query(
      `SELECT type, attempt, provider, recipient, detail FROM message_event
        WHERE message_id = ${kind === 'postgres' ? '$1' : '?'} ORDER BY sequence`,
      [id],
    );
    expect(history.slice(-2)).toEqual([
      {
        type: MessageEventType.Delivered,
        attempt: 1,
        provider: 'smtp',
        recipient: null,
        detail: 'delivered by smtp',
      },
      {
        type: MessageEventType.RecipientRefused,
        attempt: 1,
        provider: 'smtp',
        recipient: 'gone@example.com',
        detail: 'refused by smtp: 550 5.1.1 no such user',
      },
    ]);
    expect(await row(id)).toMatchObject({ status: MessageStatus.Delivered, provider: 'smtp' });
  });

  it('counts the attempts an outcome spares, and hands the count to the next claim', async () => {
    await enqueue(1);
    const retryNow = (sparesAttempt: boolean) =>
      ({
        status: MessageStatus.Retrying,
        provider: 'smtp',
        nextAttemptAt: 0,
        error: 'auth refused',
        sparesAttempt,
      }) as const;
    let [claim] = await sut.claimDue(1, LEASE_MS);
    expect(claim.sparedAttempts).toBe(0);
    expect(await sut.complete(claim, retryNow(true), 'auth refused')).toBe(true);
    [claim] = await sut.claimDue(1, LEASE_MS);
    expect(claim).toMatchObject({ attempt: 2, sparedAttempts: 1 });
    expect(await sut.complete(claim, retryNow(false), 'busy')).toBe(true);
    [claim] = await sut.claimDue(1, LEASE_MS);
    expect(claim).toMatchObject({ attempt: 3, sparedAttempts: 1 });
  });

  it('fences a stale attempt: once its lease ran out and another claim took over, its outcome changes nothing', async () => {
    const [id] = await enqueue(1);
    const [stale] = await sut.claimDue(1, 1);
    await sleep(5);
    const [successor] = await sut.claimDue(1, LEASE_MS);
    expect(successor).toMatchObject({ id, attempt: 2, leaseToken: 2 });

    // The stale attempt finishes while the successor's is still in flight.
    expect(await sut.complete(stale, delivered('sandbox', 'stale-id'), 'stale outcome')).toBe(false);
    expect(await sut.release(stale, 'stale release')).toBe(false);
    expect(await row(id)).toMatchObject({
      status: MessageStatus.Sending,
      lease_token: 2,
      provider_message_id: null,
    });

    expect(await sut.complete(successor, delivered('sandbox', 'successor-id'), 'successor outcome')).toBe(
      true,
    );
    expect(await row(id)).toMatchObject({
      status: MessageStatus.Delivered,
      provider_message_id: 'successor-id',
    });
    const history = await events(id);
    expect(history.map(({ detail }) => detail)).not.toContain('stale outcome');
    expect(history.filter(({ type }) => type === MessageEventType.Delivered)).toEqual([
      { type: MessageEventType.Delivered, attempt: 2, detail: 'successor outcome' },
    ]);
  });

  it('never records a second outcome for an attempt whose message is already final', async () => {
    const [id] = await enqueue(1);
    const [claim] = await sut.claimDue(1, LEASE_MS);
    await sut.complete(claim, delivered(), 'first');

    const failed = { status: MessageStatus.Failed, provider: 'sandbox', error: 'late' } as const;
    expect(await sut.complete(claim, failed, 'second')).toBe(false);
    expect(await row(id)).toMatchObject({ status: MessageStatus.Delivered });
  });

  it('schedules a retry, and claims the message again only once it is due', async () => {
    const [id] = await enqueue(1);
    const [claim] = await sut.claimDue(1, LEASE_MS);
    const retryAt = Date.now() + 60_000;

    const retrying = {
      status: MessageStatus.Retrying,
      provider: 'sandbox',
      nextAttemptAt: retryAt,
      error: 'HTTP 503',
      outcomeUnknown: true,
    } as const;
    expect(await sut.complete(claim, retrying, 'HTTP 503; retry later')).toBe(true);

    expect(await row(id)).toMatchObject({
      status: MessageStatus.Retrying,
      next_attempt_at: retryAt,
      last_error: 'HTTP 503',
    });
    expect((await events(id)).at(-1)?.type).toBe(MessageEventType.OutcomeUnknown);
    expect(await sut.claimDue(1, LEASE_MS)).toEqual([]);
  });

  it('hands a released attempt back at once, to be claimed by anyone', async () => {
    const [id] = await enqueue(1);
    const [claim] = await sut.claimDue(1, LEASE_MS);

    expect(await sut.release(claim, 'released at shutdown')).toBe(true);

    expect(await row(id)).toMatchObject({
      status: MessageStatus.Retrying,
      last_error: 'released at shutdown',
    });
    const [again] = await sut.claimDue(1, LEASE_MS);
    expect(again).toMatchObject({ id, attempt: 2, leaseToken: 2 });
    expect((await events(id)).map(({ type }) => type)).toEqual([
      MessageEventType.Accepted,
      MessageEventType.AttemptStarted,
      MessageEventType.Released,
      MessageEventType.AttemptStarted,
    ]);
  });

  it('records many outcomes that arrive together, each fenced on its own', async () => {
    const ids = await enqueue(50);
    const claims = await sut.claimDue(50, LEASE_MS);
    const [stale] = claims.splice(0, 1);
    const staleSuccessor = { ...stale, leaseToken: stale.leaseToken + 1 } satisfies ClaimedMessage;

    const applied = await Promise.all([
      sut.complete(staleSuccessor, delivered(), 'not its lease'),
      ...claims.map((claim) => sut.complete(claim, delivered(), `delivered ${claim.id}`)),
    ]);

    expect(applied).toEqual([false, ...claims.map(() => true)]);
    expect(ids).toHaveLength(50);
    expect(await database.count('outbox_message', `status = '${MessageStatus.Delivered}'`)).toBe(49);
    expect(await database.count('message_event', `type = '${MessageEventType.Delivered}'`)).toBe(49);
  });

  describe('a claimed batch', () => {
    const p = (index: number) => (kind === 'postgres' ? `$${index}` : '?');
    /** Claims `count` messages, then lets another claim take over the one at `takenOver`. */
    const claimWithOneTakenOver = async (count: number, takenOver: number) => {
      await enqueue(count);
      const claims = await sut.claimDue(count, LEASE_MS);
      await database.dataSource.query(`UPDATE outbox_message SET next_attempt_at = 0 WHERE id = ${p(1)}`, [
        claims[takenOver].id,
      ]);
      const [successor] = await sut.claimDue(count, LEASE_MS);
      expect(successor).toMatchObject({ id: claims[takenOver].id, leaseToken: 2 });
      return { claims, successor };
    };

    it('records its outcomes in shared statements, each row fenced: the one taken over is dropped, a cancel ends its retry', async () => {
      const { claims, successor } = await claimWithOneTakenOver(6, 5);
      const cancelled = claims[4];
      await database.dataSource.query(
        `UPDATE outbox_message SET cancel_requested_at = ${Date.now()} WHERE id = ${p(1)}`,
        [cancelled.id],
      );
      const retry = {
        status: MessageStatus.Retrying,
        provider: 'sandbox',
        nextAttemptAt: 0,
        error: 'HTTP 503',
      } as const;
      const commits = jest.spyOn(database.transactions, 'run');

      const applied = await Promise.all(
        claims.map((claim) =>
          claim === cancelled
            ? sut.complete(claim, retry, 'HTTP 503; retry later')
            : sut.complete(claim, delivered('sandbox', `id-${claim.id}`), 'delivered'),
        ),
      );

      // The first outcomes find a commit free; the later ones wait and share the next.
      expect(commits.mock.calls.length).toBeLessThan(claims.length);
      commits.mockRestore();
      expect(applied).toEqual([true, true, true, true, true, false]);
      expect(await row(successor.id)).toMatchObject({
        status: MessageStatus.Sending,
        lease_token: 2,
        provider_message_id: null,
      });
      expect((await events(successor.id)).map(({ type }) => type)).toEqual([
        MessageEventType.Accepted,
        MessageEventType.AttemptStarted,
        MessageEventType.AttemptStarted,
      ]);
      expect(await row(cancelled.id)).toMatchObject({ status: MessageStatus.Cancelled });
      expect((await events(cancelled.id)).at(-1)).toEqual({
        type: MessageEventType.Cancelled,
        attempt: 1,
        detail: 'cancelled: requested during attempt 1, which ended: HTTP 503; retry later',
      });
      for (const claim of claims.slice(0, 4)) {
        expect(await row(claim.id)).toMatchObject({
          status: MessageStatus.Delivered,
          provider_message_id: `id-${claim.id}`,
        });
        expect((await events(claim.id)).at(-1)).toEqual({
          type: MessageEventType.Delivered,
          attempt: 1,
          detail: 'delivered',
        });
      }
    });

    it('hands back the claims never started, due at once with the attempt not counted; one taken over since is left to its owner', async () => {
      const { claims, successor } = await claimWithOneTakenOver(3, 1);
      const reason = 'released at shutdown, not started';

      expect(await sut.releaseUnstarted(claims, reason)).toEqual([true, false, true]);

      expect(await row(successor.id)).toMatchObject({ status: MessageStatus.Sending, lease_token: 2 });
      for (const claim of [claims[0], claims[2]]) {
        expect(await row(claim.id)).toMatchObject({ status: MessageStatus.Retrying, last_error: reason });
        expect((await events(claim.id)).at(-1)).toEqual({
          type: MessageEventType.Released,
          attempt: 1,
          detail: reason,
        });
      }
      const again = await sut.claimDue(10, LEASE_MS);
      expect(again.map(({ id }) => id).sort()).toEqual([claims[0].id, claims[2].id].sort());
      // The second claim is attempt 2 by number, but the first never reached the provider.
      expect(again.map(({ attempt, sparedAttempts }) => [attempt, sparedAttempts])).toEqual([
        [2, 1],
        [2, 1],
      ]);
    });

    it('is never claimed again by a process still sending it past its lease, while others may', async () => {
      await enqueue(2);
      const [stillSending, abandoned] = await sut.claimDue(2, 1);
      await sleep(5);

      const again = await sut.claimDue(10, LEASE_MS, [stillSending.id]);

      expect(again.map(({ id }) => id)).toEqual([abandoned.id]);
      expect((await sut.claimDue(10, LEASE_MS)).map(({ id }) => id)).toEqual([stillSending.id]);
    });

    it('carries when its lease runs out', async () => {
      await enqueue(2);
      const before = Date.now();
      const claims = await sut.claimDue(2, LEASE_MS);

      for (const claim of claims) {
        expect(claim.leasedUntil).toBeGreaterThanOrEqual(before + LEASE_MS);
        expect(claim.leasedUntil).toBeLessThanOrEqual((await row(claim.id)).next_attempt_at);
      }
    });
  });
});

// SQLite has one writer and belongs to one process; replicas share PostgreSQL (SKIP LOCKED).
describe(`${OutboxLeases.name} on postgres, claimed by three replicas`, () => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let sut: OutboxLeases;

  beforeEach(async () => {
    database = await openMigratedTestDatabase('postgres');
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      {
        maxQueuedMessages: 5_000,
        messageMaxAgeMs: 3_600_000,
      },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    sut = new OutboxLeases(database.transactions, new FeedSignal(database.transactions), testContentSealer());
  });
  afterEach(() => database.close());

  it('lets replicas claim side by side without ever taking the same message twice', async () => {
    const results = await enqueuer.enqueue(
      Array.from({ length: 300 }, () => ({ source: 'billing', idempotencyKey: null, mail: aMail() })),
    );
    const ids = results.map((result) => (result as { messageId: string }).messageId);
    const replicas = [
      sut,
      ...(await Promise.all([database.openReplica(), database.openReplica()])).map(
        ({ transactions }) =>
          new OutboxLeases(transactions, new FeedSignal(transactions), testContentSealer()),
      ),
    ];
    const claimed: string[][] = replicas.map(() => []);

    await Promise.all(
      replicas.map(async (replica, index) => {
        for (;;) {
          const claims = await replica.claimDue(7, LEASE_MS);
          if (claims.length === 0) return;
          claimed[index].push(...claims.map(({ id }) => id));
        }
      }),
    );

    const all = claimed.flat();
    expect(all).toHaveLength(300);
    expect(new Set(all)).toEqual(new Set(ids));
    expect(await database.count('message_event', `type = '${MessageEventType.AttemptStarted}'`)).toBe(300);
  });
});
