import { status } from '@grpc/grpc-js';
import { Mail, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import { MAIL_DRIVER, SandboxDriver } from '@mailgateway/delivery';
import {
  aMail,
  aSendMailRequest,
  DATABASE_KINDS,
  provisionTestDatabase,
  ScriptedDriver,
  waitFor,
} from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests, startTestGateway } from './support/test-gateway';

describe.each(DATABASE_KINDS)('MailGateway over gRPC on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, {
    MAX_MESSAGE_BYTES: String(64 * 1024),
    MAX_ATTACHMENT_BYTES: String(32 * 1024),
  });

  // Generous: by the last test the outbox holds the 500-item batch too, and on a loaded machine the
  // sandbox drains it at a few dozen messages a second. The tests are about delivery, not its speed.
  const delivered = (messageId: string) =>
    waitFor(
      `${messageId} to be delivered`,
      async () => {
        const message = await gateway.client.getMessage({ messageId });
        return message.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? message : undefined;
      },
      { timeoutMs: 100_000 },
    );

  it('accepts a message, delivers it through the sandbox and reports its ordered history', async () => {
    const before = Date.now();
    const accepted = await gateway.client.sendMail(aSendMailRequest({ subject: 'Welcome' }));

    expect(accepted.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.replayed).toBe(false);
    expect(accepted.acceptedAt!.seconds * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);

    const message = await delivered(accepted.messageId);
    expect(message.attempts).toBe(1);
    expect(message.provider).toBe('sandbox');
    expect(message.providerMessageId).toBe(`sandbox-${accepted.messageId}`);
    expect(message.events.map((event) => event.type)).toEqual([
      MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
      MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED,
    ]);
    const sequences = message.events.map((event) => event.sequence);
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);

    const sandbox = gateway.app.get<SandboxDriver>(MAIL_DRIVER);
    expect(sandbox.records().filter((record) => record.messageId === accepted.messageId)).toEqual([
      expect.objectContaining({ subject: 'Welcome', from: 'billing@example.com', recipients: 1 }),
    ]);
  });

  it('hands every field of the mail to the driver unchanged, through the outbox', async () => {
    const mail = aMail({
      from: { address: 'billing@example.com', name: 'Billing — Fakturierung' },
      to: [
        { address: 'ada@example.org', name: 'Ada Lovelace' },
        { address: 'charles@example.org', name: '' },
      ],
      cc: [{ address: 'grace@example.net', name: 'Grace Hopper' }],
      bcc: [{ address: 'audit@example.com', name: 'Audit Trail' }],
      replyTo: [{ address: 'support@example.com', name: 'Support — 支持' }],
      subject: 'Grüße — 請求書',
      textBody: 'Hello Ada,\nyour invoice is attached. 😀',
      htmlBody: '<p>Hello <b>Ada</b>, 請求書</p>',
      headers: [
        { name: 'X-Campaign', value: 'autumn' },
        { name: 'X-Customer-Tier', value: 'gold' },
      ],
      attachments: [
        {
          fileName: 'invoice.pdf',
          contentType: 'application/pdf',
          content: Buffer.from([0, 1, 2, 250, 251, 252]),
        },
        {
          fileName: 'Übersicht.txt',
          contentType: 'text/plain',
          content: Buffer.from('Zeile 1\r\nZeile 2'),
        },
      ],
      tags: ['invoice', 'autumn-2026'],
      metadata: { customer: '42', region: 'eu-west' },
    });
    // A gateway of its own with a driver that keeps what it is handed.
    const own = await provisionTestDatabase(kind);
    const driver = new ScriptedDriver(() => ({ kind: 'accepted' }));
    const recording = await startTestGateway(own.env, { driver });
    try {
      const { messageId } = await recording.client.send(mail);
      const [handed] = await waitFor('the driver to be called', async () => {
        const calls = driver.callsFor(messageId);
        return calls.length > 0 ? calls : undefined;
      });
      // Attachments as hex, so a changed byte shows in the diff.
      const comparable = (each: Mail) => ({
        ...each,
        attachments: each.attachments.map(({ fileName, contentType, content }) => ({
          fileName,
          contentType,
          content: Buffer.from(content).toString('hex'),
        })),
      });
      expect(comparable(handed.mail)).toStrictEqual(comparable(mail));
    } finally {
      await recording.close();
      await own.drop();
    }
  });

  describe('idempotency', () => {
    it('returns the same id for the same key and content, and stores nothing new', async () => {
      const request = aSendMailRequest({ subject: 'Reset your password' }, `reset-${kind}-1`);
      const first = await gateway.client.sendMail(request);
      const messages = await gateway.count('outbox_message');
      const events = await gateway.count('message_event');

      const replay = await gateway.client.sendMail(request);

      expect(replay).toEqual({ ...first, replayed: true });
      expect(await gateway.count('outbox_message')).toBe(messages);
      // Delivery may add events to the first message meanwhile, but the replay adds no ACCEPTED.
      const history = await gateway.client.getMessage({ messageId: first.messageId });
      expect(
        history.events.filter((event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED),
      ).toHaveLength(1);
      expect(events).toBeGreaterThan(0);
    });

    it('refuses the same key with different content and stores nothing', async () => {
      await gateway.client.sendMail(aSendMailRequest({ subject: 'Code 1234' }, `otp-${kind}`));
      const messages = await gateway.count('outbox_message');

      await expectGrpcError(
        gateway.client.sendMail(aSendMailRequest({ subject: 'Code 9999' }, `otp-${kind}`)),
        status.INVALID_ARGUMENT,
        /^idempotency_key: already used for a message with different content/,
      );
      expect(await gateway.count('outbox_message')).toBe(messages);
    });

    it('answers concurrent calls with one key with one message', async () => {
      const request = aSendMailRequest({ subject: 'Concurrent' }, `race-${kind}`);
      const results = await Promise.all(Array.from({ length: 8 }, () => gateway.client.sendMail(request)));
      expect(new Set(results.map((result) => result.messageId)).size).toBe(1);
      expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    });

    it("scopes keys to the calling source, which cannot see other sources' messages", async () => {
      const crm = gateway.connect(await gateway.addSource(`crm-${kind}`, ['mail.send', 'mail.read']));
      const ours = await gateway.client.sendMail(aSendMailRequest({ subject: 'From dev' }, `shared-${kind}`));
      const theirs = await crm.sendMail(aSendMailRequest({ subject: 'From crm' }, `shared-${kind}`));

      expect(theirs.messageId).not.toBe(ours.messageId);
      expect(theirs.replayed).toBe(false);
      await expectGrpcError(
        crm.getMessage({ messageId: ours.messageId }),
        status.NOT_FOUND,
        'message not found',
      );
    });
  });

  describe('GetMessage', () => {
    it('answers NOT_FOUND for an id that does not exist', async () => {
      await expectGrpcError(
        gateway.client.getMessage({ messageId: '00000000-0000-4000-8000-000000000000' }),
        status.NOT_FOUND,
        'message not found',
      );
    });

    it('answers INVALID_ARGUMENT for a malformed or missing id', async () => {
      await expectGrpcError(
        gateway.client.getMessage({ messageId: 'nope' }),
        status.INVALID_ARGUMENT,
        /^message_id: /,
      );
      await expectGrpcError(
        gateway.client.getMessage({ messageId: '' }),
        status.INVALID_ARGUMENT,
        'message_id: required',
      );
    });
  });

  describe('SendMailBatch', () => {
    it('accepts the valid items and rejects the others, one result per item in order', async () => {
      const messages = await gateway.count('outbox_message');
      const { results } = await gateway.client.sendMailBatch({
        items: [
          aSendMailRequest({ subject: 'First' }, `batch-${kind}-a`),
          aSendMailRequest({ to: [{ address: 'not-an-address', name: '' }] }),
          aSendMailRequest({ subject: 'Third' }, `batch-${kind}-a`),
          aSendMailRequest({ subject: 'Fourth' }),
        ],
      });

      expect(results.map((result) => result.index)).toEqual([0, 1, 2, 3]);
      expect(results[0].accepted?.replayed).toBe(false);
      expect(results[1].rejected).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'mail.to[0].address' });
      // Same key as item 0 with other content: a conflict, refused on its own.
      // As for every rejected item, the reason does not repeat the field.
      expect(results[2].rejected).toEqual({
        code: 'INVALID_ARGUMENT',
        field: 'idempotency_key',
        reason: 'already used for a message with different content; use a new key for a new message',
      });
      expect(results[3].accepted?.messageId).toBeTruthy();
      expect(await gateway.count('outbox_message')).toBe(messages + 2);
      await delivered(results[0].accepted!.messageId);
      await delivered(results[3].accepted!.messageId);
    });

    it('replays a repeated key within one batch', async () => {
      const item = aSendMailRequest({ subject: 'Twice' }, `batch-${kind}-twice`);
      const { results } = await gateway.client.sendMailBatch({ items: [item, item] });
      expect(results[1].accepted).toEqual({ ...results[0].accepted, replayed: true });
    });

    it('accepts 500 items in one call and refuses 501 or none', async () => {
      const items = Array.from({ length: 500 }, (_, index) => aSendMailRequest({ subject: `Bulk ${index}` }));
      const { results } = await gateway.client.sendMailBatch({ items });
      expect(results.filter((result) => result.accepted)).toHaveLength(500);

      await expectGrpcError(
        gateway.client.sendMailBatch({ items: [...items, aSendMailRequest()] }),
        status.INVALID_ARGUMENT,
        'items: 501 items; the limit is 500 per call',
      );
      await expectGrpcError(gateway.client.sendMailBatch({ items: [] }), status.INVALID_ARGUMENT, /^items: /);
    });
  });

  describe('size limits', () => {
    it('refuses a message over MAX_MESSAGE_BYTES with INVALID_ARGUMENT naming the message', async () => {
      const messages = await gateway.count('outbox_message');
      const attachment = (size: number) => ({
        fileName: 'a.bin',
        contentType: 'application/octet-stream',
        content: Buffer.alloc(size, 1),
      });
      await expectGrpcError(
        gateway.client.sendMail(
          aSendMailRequest({
            attachments: [attachment(30 * 1024), attachment(30 * 1024), attachment(30 * 1024)],
          }),
        ),
        status.INVALID_ARGUMENT,
        /^mail: .*65536/,
      );
      expect(await gateway.count('outbox_message')).toBe(messages);
    });

    it('answers a message over the gRPC receive limit with RESOURCE_EXHAUSTED, not a dropped connection', async () => {
      await expectGrpcError(
        gateway.client.sendMail(aSendMailRequest({ textBody: 'x'.repeat(200 * 1024) })),
        status.RESOURCE_EXHAUSTED,
        /larger than max/i,
      );
      // The connection still serves the next call.
      const accepted = await gateway.client.sendMail(aSendMailRequest({ subject: 'After the big one' }));
      expect(accepted.messageId).toBeTruthy();
    });
  });

  it('keeps delivering every accepted message', async () => {
    const accepted = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        gateway.client.sendMail(aSendMailRequest({ subject: `Load ${index}` })),
      ),
    );
    const messages = await Promise.all(accepted.map(({ messageId }) => delivered(messageId)));
    expect(messages.every((message) => message.attempts === 1)).toBe(true);
  }, 120_000);
});
