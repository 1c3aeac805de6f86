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
import { FeedbackMessageReference, findFeedbackMessage } from './feedback-message-lookup';

describe.each(DATABASE_KINDS)(`${findFeedbackMessage.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let messageId: string;
  let otherId: string;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    const enqueuer = new OutboxEnqueuer(
      database.transactions,
      { maxQueuedMessages: 5_000, messageMaxAgeMs: 60_000 },
      new FeedSignal(database.transactions),
      testContentSealer(),
      testContentFingerprinter(),
    );
    const results = await enqueuer.enqueue([
      {
        source: 'billing',
        idempotencyKey: null,
        mail: aMail({
          to: [{ address: 'Ann@Example.com', name: '' }],
          cc: [{ address: 'ann@example.com', name: '' }],
          bcc: [{ address: 'bob@example.com', name: '' }],
        }),
      },
      { source: 'crm', idempotencyKey: null, mail: aMail() },
    ]);
    [messageId, otherId] = results.map((result) => (result.kind === 'accepted' ? result.messageId : ''));
    await database.dataSource.query(
      `UPDATE outbox_message SET provider = 'postmark', provider_message_id = 'pm-1' WHERE id = '${messageId}'`,
    );
    await database.dataSource.query(
      `UPDATE outbox_message SET provider = 'sendgrid', provider_message_id = 'pm-1' WHERE id = '${otherId}'`,
    );
  });
  afterAll(() => database.close());

  const find = (reference: FeedbackMessageReference) =>
    database.transactions.run((manager) =>
      findFeedbackMessage(manager, database.transactions.dialect, reference),
    );

  it('finds a message by the gateway id, with its recipients lowercased and once each', async () => {
    expect(await find({ gatewayMessageId: messageId, provider: 'postmark' })).toEqual({
      id: messageId,
      source: 'billing',
      recipients: ['ann@example.com', 'bob@example.com'],
    });
  });

  it("finds a message by the provider's id for it, only among that provider's messages", async () => {
    expect((await find({ provider: 'postmark', providerMessageId: 'pm-1' }))?.id).toBe(messageId);
    expect((await find({ provider: 'sendgrid', providerMessageId: 'pm-1' }))?.id).toBe(otherId);
    expect(await find({ provider: 'mailgun', providerMessageId: 'pm-1' })).toBeNull();
  });

  it("falls back to the provider's id when the gateway id matches nothing, and finds nothing without either", async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(
      (await find({ gatewayMessageId: unknown, provider: 'postmark', providerMessageId: 'pm-1' }))?.id,
    ).toBe(messageId);
    expect(await find({ gatewayMessageId: unknown, provider: 'postmark' })).toBeNull();
    expect(await find({ provider: 'postmark' })).toBeNull();
  });
});
