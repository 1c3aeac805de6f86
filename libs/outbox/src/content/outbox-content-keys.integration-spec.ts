import { randomBytes } from 'node:crypto';
import { ContentSealer, GatewaySecrets, KeyRing } from '@mailgateway/encryption';
import { TransactionRunner } from '@mailgateway/database';
import {
  aMail,
  DATABASE_KINDS,
  MigratedTestDatabase,
  openMigratedTestDatabase,
  testContentFingerprinter,
} from '@mailgateway/testing';
import { OutboxEnqueuer } from '../enqueue/outbox-enqueuer';
import { FeedSignal } from '../feed/feed-signal';
import { OutboxContentKeys } from './outbox-content-keys';

const A = { id: 'a', key: randomBytes(32) };
const B = { id: 'b', key: randomBytes(32) };
const SENT = 120;
const LEGACY = 30;

describe.each(DATABASE_KINDS)(`${OutboxContentKeys.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  const rotated = new ContentSealer(new KeyRing([A, B], 'b'));
  const contentKeys = (transactions: TransactionRunner) =>
    new OutboxContentKeys(transactions, rotated, new GatewaySecrets(transactions, rotated.ring));

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    const enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 60_000 },
      new FeedSignal(database.transactions),
      new ContentSealer(new KeyRing([A], null)),
      testContentFingerprinter(),
    );
    await enqueuer.enqueue(
      Array.from({ length: SENT }, (_, index) => ({
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({ subject: `subject ${index}`, to: [{ address: `To${index}@Example.org`, name: '' }] }),
      })),
    );
    // As stored before content was sealed: plain JSON, no key, no recipients column.
    await database.dataSource.query(
      `UPDATE outbox_message SET payload = '{"subject":"legacy","to":[{"address":"Old@Example.org","name":""}],"from":{"address":"Billing@Example.com","name":""},"attachments":[]}',
              content_key_id = NULL, wrapped_data_key = NULL, recipients = NULL, sender = NULL
        WHERE id IN (SELECT id FROM outbox_message ORDER BY id LIMIT ${LEGACY})`,
    );
    // Shredded: nothing to wrap, never counted.
    await database.dataSource.query(
      `UPDATE outbox_message SET payload = '', content_key_id = NULL, wrapped_data_key = NULL
        WHERE id IN (SELECT id FROM outbox_message ORDER BY id DESC LIMIT 1)`,
    );
  });
  afterEach(() => database.close());

  const stored = () =>
    database.dataSource.query(
      'SELECT id, payload, content_key_id, wrapped_data_key, recipients, sender FROM outbox_message',
    ) as Promise<
      {
        id: string;
        payload: string;
        content_key_id: string | null;
        wrapped_data_key: string | null;
        recipients: string | null;
        sender: string | null;
      }[]
    >;

  it('moves every message to the newest key and seals plain ones, a limit at a time, on two replicas (or two calls) at once', async () => {
    const first = await contentKeys(database.transactions).rewrap(10);
    expect(first).toEqual({ keyId: 'b', rewrapped: 10, remaining: SENT - 1 - 10 });

    // Two replicas on PostgreSQL; SQLite has one process, so two calls at once in it.
    const other = kind === 'postgres' ? (await database.openReplica()).transactions : database.transactions;
    const [one, two] = await Promise.all([
      contentKeys(database.transactions).rewrap(1000),
      contentKeys(other).rewrap(1000),
    ]);
    expect(one.rewrapped + two.rewrapped).toBe(SENT - 1 - 10);
    expect(await contentKeys(database.transactions).rewrap(1000)).toEqual({
      keyId: 'b',
      rewrapped: 0,
      remaining: 0,
    });

    const onlyB = new ContentSealer(new KeyRing([B], null));
    const rows = await stored();
    const shredded = rows.filter((row) => row.payload === '');
    expect(shredded).toHaveLength(1);
    for (const row of rows.filter((each) => each.payload !== '')) {
      expect(row.content_key_id).toBe('b');
      expect(row.payload).not.toContain('subject');
      const content = JSON.parse(
        onlyB.open(row.id, { payload: row.payload, contentKeyId: 'b', wrappedDataKey: row.wrapped_data_key }),
      ) as { subject: string; to: { address: string }[] };
      expect(JSON.parse(row.recipients!)).toEqual(content.to.map(({ address }) => address.toLowerCase()));
      if (content.subject === 'legacy') expect(row.sender).toBe('billing@example.com');
    }
    expect(rows.filter((row) => row.sender === 'billing@example.com')).toHaveLength(SENT);
  });

  it('leaves a message under a key the ring no longer holds, and does not count it', async () => {
    await database.dataSource.query(
      `UPDATE outbox_message SET content_key_id = 'gone'
        WHERE id IN (SELECT id FROM outbox_message WHERE content_key_id = 'a' ORDER BY id LIMIT 2)`,
    );
    const result = await contentKeys(database.transactions).rewrap(1000);
    expect(result).toEqual({ keyId: 'b', rewrapped: SENT - 3, remaining: 0 });
    expect((await stored()).filter((row) => row.content_key_id === 'gone')).toHaveLength(2);
  });
});
