import { AddressHasher } from '@mailgateway/encryption';
import { FeedbackProcessor, ProviderNotificationRepository } from '@mailgateway/feedback';
import {
  applyRecipientUpdates,
  EnqueueResult,
  FeedSignal,
  insertEvents,
  MessageEventType,
  MessageStatus,
  OutboxEnqueuer,
  OutboxLeases,
  RecipientState,
} from '@mailgateway/outbox';
import { ALL_SOURCES, SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentSealer,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { AddressErasure, ERASED_CANCEL_DETAIL, ERASURE_BATCH_SIZE } from './address-erasure.service';
import { AddressRedaction } from './address-redaction';

const HASHER = new AddressHasher(Buffer.alloc(32, 7));
const BOB = 'bob@example.com';
const BOB_HASH = HASHER.hash(BOB);
const to = (...addresses: string[]) => addresses.map((address) => ({ address, name: '' }));

describe.each(DATABASE_KINDS)(`${AddressErasure.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let enqueuer: OutboxEnqueuer;
  let leases: OutboxLeases;
  let suppressions: SuppressionList;
  let sut: AddressErasure;

  const placeholder = (index: number) => (kind === 'postgres' ? `$${index}` : '?');
  const accepted = (result: EnqueueResult | undefined) => {
    if (result?.kind !== 'accepted') throw new Error(`expected accepted, got ${result?.kind}`);
    return result.messageId;
  };
  const send = async (mail: Parameters<typeof aMail>[0], sendAt: number | null = null) =>
    accepted(
      (await enqueuer.enqueue([{ source: 'billing', idempotencyKey: null, mail: aMail(mail), sendAt }]))[0],
    );
  const messageOf = async (id: string) => {
    const [row] = await database.dataSource.query(
      `SELECT * FROM outbox_message WHERE id = ${placeholder(1)}`,
      [id],
    );
    return row as Record<string, string | number | null>;
  };
  const eventsOf = async (id: string) =>
    (await database.dataSource.query(
      `SELECT type, detail, recipient FROM message_event WHERE message_id = ${placeholder(1)} ORDER BY sequence`,
      [id],
    )) as { type: string; detail: string; recipient: string | null }[];
  const erase = (address = BOB, reason = 'ticket 4711') =>
    sut.erase({ address, reason, requestedBy: 'admin' });

  /** Every text value of every row of every table, as "table: value". */
  const everyValue = async (): Promise<string[]> => {
    const tables: { name: string }[] =
      kind === 'sqlite'
        ? await database.dataSource.query(
            `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
          )
        : await database.dataSource.query(
            `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
          );
    const values: string[] = [];
    for (const { name } of tables) {
      const rows: Record<string, unknown>[] = await database.dataSource.query(`SELECT * FROM ${name}`);
      for (const row of rows) {
        for (const value of Object.values(row)) if (value !== null) values.push(`${name}: ${String(value)}`);
      }
    }
    return values;
  };

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    const signal = new FeedSignal(database.transactions);
    enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 3_600_000 },
      signal,
      testContentSealer(),
      testContentFingerprinter(),
    );
    leases = new OutboxLeases(database.transactions, signal, testContentSealer());
    suppressions = new SuppressionList(database.transactions, HASHER);
    sut = new AddressErasure(database.transactions, HASHER, suppressions, signal);
  });
  afterEach(() => database.close());

  it('shreds every message to or from the address, hashes it where it stood, and leaves the others alone', async () => {
    const toAnnAndBob = await send({ to: to('ann@example.com'), cc: to('Bob@Example.com') });
    const fromBob = await send({
      from: { address: 'BOB@example.com', name: 'Bob' },
      to: to('dan@example.com'),
    });
    const toCarol = await send({ to: to('carol@example.com') });
    const scheduledToBob = await send({ to: to(BOB) }, Date.now() + 3_600_000);
    const carolBefore = await messageOf(toCarol);

    const result = await erase('Bob@EXAMPLE.com');

    expect(result).toMatchObject({ addressHash: BOB_HASH, messagesShredded: 3, suppressionsKept: 0 });
    expect(result.erasureId).toMatch(/^[0-9a-f-]{36}$/);
    for (const id of [toAnnAndBob, fromBob, scheduledToBob]) {
      expect(await messageOf(id)).toMatchObject({
        payload: '',
        content_key_id: null,
        wrapped_data_key: null,
      });
      expect(Number((await messageOf(id)).content_shredded_at)).toBe(result.erasedAt);
    }
    expect(JSON.parse(String((await messageOf(toAnnAndBob)).recipients))).toEqual([
      'ann@example.com',
      BOB_HASH,
    ]);
    expect(await messageOf(fromBob)).toMatchObject({ sender: BOB_HASH, recipients: '["dan@example.com"]' });
    expect(await messageOf(toCarol)).toEqual(carolBefore);
    // Not yet final: ended, with a clear event, and its lease token raised.
    expect(await messageOf(scheduledToBob)).toMatchObject({
      status: MessageStatus.Cancelled,
      lease_token: 1,
    });
    expect((await eventsOf(scheduledToBob)).at(-1)).toMatchObject({
      type: 'cancelled',
      detail: ERASED_CANCEL_DETAIL,
    });
    expect((await messageOf(toAnnAndBob)).status).toBe(MessageStatus.Cancelled);
    expect(await messageOf(toCarol)).toMatchObject({ status: MessageStatus.Queued });
  });

  it("replaces an erased message's content hash with one nothing matches: a replay of its key is a conflict", async () => {
    const request = {
      source: 'billing',
      idempotencyKey: 'order-42',
      mail: aMail({ to: to(BOB) }),
      sendAt: null,
    };
    const id = accepted((await enqueuer.enqueue([request]))[0]);
    const before = String((await messageOf(id)).content_hash);
    expect((await enqueuer.enqueue([request]))[0]).toMatchObject({ kind: 'accepted', replayed: true });

    await erase();

    const after = String((await messageOf(id)).content_hash);
    expect(after).not.toBe(before);
    expect(after).not.toMatch(/^[0-9a-f]*$/);
    expect((await enqueuer.enqueue([request]))[0]).toEqual({ kind: 'idempotency-conflict', messageId: id });
  });

  it('finds messages stored before sealing by their plain payload, and keeps their recipients hashed', async () => {
    const legacy = async (mail: Parameters<typeof aMail>[0]) => {
      const id = await send(mail);
      const plain = JSON.stringify({ ...aMail(mail), attachments: [] });
      await database.dataSource.query(
        `UPDATE outbox_message SET payload = ${placeholder(1)}, content_key_id = NULL, wrapped_data_key = NULL,
                recipients = NULL, sender = NULL WHERE id = ${placeholder(2)}`,
        [plain, id],
      );
      return id;
    };
    const toBob = await legacy({ to: to('ann@example.com'), bcc: to('BOB@example.com') });
    const fromBob = await legacy({
      from: { address: 'Bob@Example.com', name: '' },
      to: to('dan@example.com'),
    });
    const replyToBob = await legacy({ to: to('dan@example.com'), replyTo: to(BOB) });
    const toCarol = await legacy({ to: to('carol@example.com'), textBody: 'Hi Carol' });
    const carolBefore = await messageOf(toCarol);

    expect((await erase()).messagesShredded).toBe(3);

    expect(await messageOf(toBob)).toMatchObject({
      payload: '',
      recipients: JSON.stringify(['ann@example.com', BOB_HASH]),
      sender: 'billing@example.com',
    });
    expect(await messageOf(fromBob)).toMatchObject({ payload: '', sender: BOB_HASH });
    expect(await messageOf(replyToBob)).toMatchObject({ payload: '', recipients: '["dan@example.com"]' });
    expect(await messageOf(toCarol)).toEqual(carolBefore);
  });

  it('replaces the address in events, errors, notifications and suppression notes, and keeps its suppressions as the hash', async () => {
    const toBob = await send({ to: to('ann@example.com', BOB) });
    const toCarol = await send({ to: to('carol@example.com') });
    await database.transactions.run((manager) =>
      applyRecipientUpdates(manager, kind, [
        {
          messageId: toBob,
          source: 'billing',
          address: BOB,
          state: RecipientState.BouncedHard,
          detail: '550 5.1.1 <Bob@Example.com>: no such user',
          occurredAt: Date.now(),
          provider: 'sendgrid',
        },
        {
          messageId: toCarol,
          source: 'billing',
          address: 'carol@example.com',
          state: RecipientState.Delivered,
          detail: '250 ok (forwarded from bob@example.com. and ann.bob@example.com)',
          occurredAt: Date.now(),
          provider: 'sendgrid',
        },
      ]),
    );
    await database.dataSource.query(
      `UPDATE outbox_message SET last_error = ${placeholder(1)}, labels = ${placeholder(2)} WHERE id = ${placeholder(3)}`,
      [
        'relay: <bob@example.com> refused, carol@example.com taken',
        '{"tags":[],"metadata":{"cc":"bob@example.com"}}',
        toCarol,
      ],
    );
    await new ProviderNotificationRepository(database.transactions).store(
      [
        {
          provider: 'sendgrid',
          eventId: 'sg-1',
          kind: 'complaint',
          recipient: BOB,
          gatewayMessageId: toBob,
          detail: 'bob@example.com marked it as spam',
          occurredAt: Date.now(),
        },
        {
          provider: 'http',
          eventId: 'complaint:Bob@example.com',
          kind: 'delivered',
          recipient: 'carol@example.com',
          detail: 'delivered',
          occurredAt: Date.now(),
        },
      ],
      Date.now(),
    );
    await database.transactions.run((manager) =>
      suppressions.add(manager, [
        {
          address: BOB,
          scope: ALL_SOURCES,
          reason: SuppressionReason.Complaint,
          origin: 'sendgrid:sg-1 (message m)',
          expiresAt: null,
        },
        {
          address: BOB,
          scope: 'billing',
          reason: SuppressionReason.Manual,
          origin: 'ticket 1 for bob@example.com',
          expiresAt: null,
        },
        {
          address: BOB,
          scope: 'crm',
          reason: SuppressionReason.Manual,
          origin: 'lapsed',
          expiresAt: Date.now() - 1,
        },
        {
          address: 'alice@example.com',
          scope: ALL_SOURCES,
          reason: SuppressionReason.Manual,
          origin: 'named by bob@example.com',
          expiresAt: null,
        },
      ]),
    );

    const result = await erase();

    // 1 message, 2 events, Carol's message texts, 2 notifications, Alice's note.
    expect(result).toMatchObject({ messagesShredded: 1, recordsRedacted: 7, suppressionsKept: 2 });
    const values = await everyValue();
    const bob = new AddressRedaction(BOB, BOB_HASH);
    expect(values.filter((value) => bob.mentions(value))).toEqual([]);
    // Only as part of another address, which is not his.
    expect(values.filter((value) => value.toLowerCase().includes(BOB))).toEqual([
      `message_event: 250 ok (forwarded from ${BOB_HASH}. and ann.bob@example.com)`,
    ]);
    expect(values.join('\n')).toContain(BOB_HASH);
    expect((await eventsOf(toBob)).find((event) => event.type === 'recipient_bounced')).toEqual({
      type: 'recipient_bounced',
      detail: `hard: 550 5.1.1 <${BOB_HASH}>: no such user`,
      recipient: BOB_HASH,
    });
    expect(await messageOf(toCarol)).toMatchObject({
      last_error: `relay: <${BOB_HASH}> refused, carol@example.com taken`,
      labels: `{"tags":[],"metadata":{"cc":"${BOB_HASH}"}}`,
    });
    // Still suppressing Bob, found by his address, from any source.
    const found = await suppressions.find('billing', [BOB, 'Carol@example.com']);
    expect([...found.keys()]).toEqual([BOB]);
    expect(found.get(BOB)).toMatchObject({
      address: BOB,
      scope: 'billing',
      reason: SuppressionReason.Manual,
    });
    expect((await suppressions.find('crm', ['BOB@example.com'])).get(BOB)).toMatchObject({
      reason: SuppressionReason.Complaint,
      origin: 'sendgrid:sg-1 (message m)',
    });
    const listed = await suppressions.list({ pageSize: 10 });
    expect(listed.suppressions.map(({ address, scope, origin }) => [address, scope, origin])).toEqual([
      ['alice@example.com', ALL_SOURCES, `named by ${BOB_HASH}`],
      [BOB_HASH, ALL_SOURCES, 'sendgrid:sg-1 (message m)'],
      [BOB_HASH, 'billing', `ticket 1 for ${BOB_HASH}`],
    ]);
  });

  it('redacts a complaint not yet processed, and processing then lands it on the hash, which it suppresses', async () => {
    const toBob = await send({ to: to('ann@example.com', BOB) });
    await new ProviderNotificationRepository(database.transactions).store(
      [
        {
          provider: 'sendgrid',
          eventId: 'sg-late',
          kind: 'complaint',
          recipient: BOB,
          gatewayMessageId: toBob,
          detail: 'spam report',
          occurredAt: Date.now(),
        },
      ],
      Date.now(),
    );

    await erase();
    const processor = new FeedbackProcessor(
      database.transactions,
      suppressions,
      new FeedSignal(database.transactions),
      { processing: { matchWindowMs: 60_000, processIntervalMs: 1_000, softBounceLimit: 3 } },
      uncountedMetrics(),
    );
    expect(await processor.processDue()).toBe(1);

    expect((await eventsOf(toBob)).at(-1)).toMatchObject({
      type: 'recipient_complained',
      recipient: BOB_HASH,
    });
    expect((await suppressions.find('billing', [BOB])).get(BOB)).toMatchObject({
      reason: SuppressionReason.Complaint,
    });
    const [notification] = await database.dataSource.query(
      'SELECT state, feedback FROM provider_notification',
    );
    expect(notification.state).toBe('processed');
    expect(String(notification.feedback)).not.toContain(BOB);
  });

  it('applies a complaint that arrives after the erasure, naming the plain address, to the hash and suppresses it', async () => {
    const toBob = await send({ to: to('ann@example.com', BOB) });
    await erase();
    expect((await suppressions.find('billing', [BOB])).size).toBe(0);

    await new ProviderNotificationRepository(database.transactions).store(
      [
        {
          provider: 'sendgrid',
          eventId: `sg-after-${BOB.toUpperCase()}`,
          kind: 'complaint',
          recipient: 'Bob@Example.com',
          gatewayMessageId: toBob,
          detail: `spam report by <${BOB}>`,
          occurredAt: Date.now(),
        },
      ],
      Date.now(),
    );
    const processor = new FeedbackProcessor(
      database.transactions,
      suppressions,
      new FeedSignal(database.transactions),
      { processing: { matchWindowMs: 60_000, processIntervalMs: 1_000, softBounceLimit: 3 } },
      uncountedMetrics(),
      HASHER,
    );
    expect(await processor.processDue()).toBe(1);

    expect((await eventsOf(toBob)).at(-1)).toMatchObject({
      type: 'recipient_complained',
      recipient: BOB_HASH,
      detail: `spam report by <${BOB_HASH}>`,
    });
    // What the accept path and the dispatcher ask: a new message to Bob is suppressed.
    expect((await suppressions.find('billing', ['BOB@example.com'])).get('bob@example.com')).toMatchObject({
      reason: SuppressionReason.Complaint,
    });
    const listed = await suppressions.list({ pageSize: 10 });
    expect(listed.suppressions.map(({ address }) => address)).toEqual([BOB_HASH]);
    const [notification] = await database.dataSource.query(
      'SELECT state, message_id FROM provider_notification',
    );
    expect(notification).toMatchObject({ state: 'processed', message_id: toBob });
    expect((await everyValue()).filter((value) => value.toLowerCase().includes(BOB))).toEqual([]);
  });

  it('writes its record "started" first: one cut short says so, and erasing again completes that record', async () => {
    await send({ to: to(BOB) });
    await database.transactions.run((manager) =>
      suppressions.add(manager, [
        {
          address: BOB,
          scope: ALL_SOURCES,
          reason: SuppressionReason.Complaint,
          origin: 'x',
          expiresAt: null,
        },
      ]),
    );
    jest.spyOn(suppressions, 'keepAsHash').mockRejectedValueOnce(new Error('the database went away'));
    await expect(erase()).rejects.toThrow('the database went away');
    const columns = 'id, address_hash, state, messages_shredded, suppressions_kept';
    const [cut] = await database.dataSource.query(`SELECT ${columns} FROM erasure_record`);
    expect({ ...cut, messages_shredded: Number(cut.messages_shredded) }).toMatchObject({
      address_hash: BOB_HASH,
      state: 'started',
      messages_shredded: 1,
      suppressions_kept: 0,
    });

    const rerun = await erase();

    expect(rerun).toMatchObject({ erasureId: cut.id, messagesShredded: 1, suppressionsKept: 1 });
    const records = await database.dataSource.query(`SELECT ${columns} FROM erasure_record`);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ id: cut.id, state: 'done' });
    expect((await erase()).erasureId).not.toBe(cut.id);
  });

  it('finds an event whose recipient was written as spelled (an SMTP refusal), stored lowercased', async () => {
    const toBob = await send({ to: to('ann@example.com', BOB) });
    await database.transactions.run((manager) =>
      insertEvents(manager, database.transactions.dialect, [
        {
          messageId: toBob,
          source: 'billing',
          type: MessageEventType.RecipientRefused,
          attempt: 1,
          detail: 'refused by smtp: 550 no such user',
          occurredAt: Date.now(),
          recipient: 'Bob@Example.COM',
        },
      ]),
    );
    expect((await eventsOf(toBob)).at(-1)?.recipient).toBe(BOB);

    await erase();

    expect((await eventsOf(toBob)).filter(({ type }) => type === 'recipient_refused')).toEqual([
      expect.objectContaining({ recipient: BOB_HASH }),
    ]);
  });

  it('erasing again finds nothing, answers zero counts and records it again', async () => {
    await send({ to: to(BOB) });
    await database.transactions.run((manager) =>
      suppressions.add(manager, [
        {
          address: BOB,
          scope: ALL_SOURCES,
          reason: SuppressionReason.Complaint,
          origin: 'x',
          expiresAt: null,
        },
      ]),
    );
    const first = await erase(BOB, `asked by ${BOB}`);
    const second = await erase(BOB.toUpperCase());

    expect(first).toMatchObject({ messagesShredded: 1, recordsRedacted: 1, suppressionsKept: 1 });
    expect(second).toMatchObject({
      addressHash: BOB_HASH,
      messagesShredded: 0,
      recordsRedacted: 0,
      suppressionsKept: 0,
    });
    expect(second.erasureId).not.toBe(first.erasureId);
    const records = await database.dataSource.query(
      `SELECT id, address_hash, reason, requested_by, messages_shredded, records_redacted, suppressions_kept
         FROM erasure_record ORDER BY erased_at, messages_shredded DESC`,
    );
    expect(
      records.map((record: Record<string, unknown>) => ({
        ...record,
        messages_shredded: Number(record.messages_shredded),
      })),
    ).toEqual([
      expect.objectContaining({
        id: first.erasureId,
        address_hash: BOB_HASH,
        reason: `asked by ${BOB_HASH}`,
        requested_by: 'admin',
        messages_shredded: 1,
      }),
      expect.objectContaining({
        id: second.erasureId,
        address_hash: BOB_HASH,
        reason: 'ticket 4711',
        messages_shredded: 0,
      }),
    ]);
  });

  it('ends a message an attempt holds, and that attempt cannot record over it', async () => {
    const id = await send({ to: to(BOB) });
    const [claim] = await leases.claimDue(10, 60_000);
    expect(claim.id).toBe(id);

    await erase();

    expect(
      await leases.complete(
        claim,
        { status: MessageStatus.Delivered, provider: 'p', providerMessageId: 'x' },
        'late',
      ),
    ).toBe(false);
    expect(await messageOf(id)).toMatchObject({
      status: MessageStatus.Cancelled,
      payload: '',
      provider: null,
    });
    expect((await eventsOf(id)).map((event) => event.type)).toEqual([
      'accepted',
      'attempt_started',
      'cancelled',
    ]);
    expect(await leases.claimDue(10, 60_000)).toEqual([]);
  });

  it(`works through more messages than one batch (${ERASURE_BATCH_SIZE}) of short transactions`, async () => {
    const count = ERASURE_BATCH_SIZE * 2 + 17;
    const results = await enqueuer.enqueue(
      Array.from({ length: count }, (_, index) => ({
        source: 'billing',
        idempotencyKey: `key-${index}`,
        mail: aMail({ to: to(index % 2 === 0 ? BOB : 'ann@example.com'), cc: to(BOB) }),
      })),
    );
    results.forEach(accepted);

    expect((await erase()).messagesShredded).toBe(count);
    expect(await database.count('outbox_message', `payload <> ''`)).toBe(0);
    expect(await database.count('outbox_message', `status <> 'cancelled'`)).toBe(0);
  });
});

/** Metrics that count nothing: the processor's counters, as the spec does not read them. */
function uncountedMetrics(): ConstructorParameters<typeof FeedbackProcessor>[4] {
  const counter = { inc: () => undefined, observe: () => undefined, set: () => undefined };
  return new Proxy({}, { get: () => counter }) as ConstructorParameters<typeof FeedbackProcessor>[4];
}
