import { status } from '@grpc/grpc-js';
import { MailGatewayClient } from '@mailgateway/client';
import {
  GetMessageResponse,
  MessageEventType,
  MessageStatus,
  SuppressedRecipients,
} from '@mailgateway/contracts';
import { TransactionRunner } from '@mailgateway/database';
import { SuppressionList, SuppressionReason } from '@mailgateway/suppression';
import { aMail, DATABASE_KINDS, httpGet, sampleValue, ScriptedDriver, waitFor } from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests } from './support/test-gateway';

const FINAL = new Set<MessageStatus>([
  MessageStatus.MESSAGE_STATUS_DELIVERED,
  MessageStatus.MESSAGE_STATUS_FAILED,
  MessageStatus.MESSAGE_STATUS_EXPIRED,
  MessageStatus.MESSAGE_STATUS_CANCELLED,
  MessageStatus.MESSAGE_STATUS_SUPPRESSED,
]);

describe.each(DATABASE_KINDS)('Suppressed recipients at accept and at claim on %s', (kind) => {
  const driver = new ScriptedDriver((message) => ({
    kind: 'accepted',
    providerMessageId: `p-${message.id}`,
  }));
  const gateway = gatewayForAllTests(kind, {}, { driver });
  let dropping: MailGatewayClient;
  let refusing: MailGatewayClient;

  beforeAll(async () => {
    dropping = gateway.connect(await gateway.addSource('dropping', ['mail.send', 'mail.read']));
    refusing = gateway.connect(
      await gateway.addSource('refusing', ['mail.send', 'mail.read'], {
        suppressedRecipients: SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE,
      }),
    );
  });

  it("keeps each source's policy: REFUSE as set, the default left unspecified", async () => {
    const { sources } = await gateway.admin.listSources();
    const policyOf = (name: string) => sources.find((source) => source.name === name)?.policy;

    expect(policyOf('refusing')?.suppressedRecipients).toBe(
      SuppressedRecipients.SUPPRESSED_RECIPIENTS_REFUSE,
    );
    expect(policyOf('dropping')?.suppressedRecipients).toBe(
      SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED,
    );
  });

  /** Through the list's writer, as provider feedback adds an entry. */
  const suppress = async (address: string, reason: string, scope = '*') => {
    const list = gateway.app.get(SuppressionList);
    await gateway.app
      .get(TransactionRunner)
      .run((manager) =>
        list.add(manager, [
          { address, scope, reason: reason as SuppressionReason, origin: 'e2e', expiresAt: null },
        ]),
      );
  };
  const to = (...addresses: string[]) => addresses.map((address) => ({ address, name: '' }));
  const finalOf = (client: MailGatewayClient, messageId: string) =>
    waitFor(`${messageId} final`, async () => {
      const message = await client.getMessage({ messageId });
      return FINAL.has(message.status) ? message : undefined;
    });
  const suppressedEvents = (message: GetMessageResponse) =>
    message.events
      .filter(({ type }) => type === MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_SUPPRESSED)
      .map(({ recipient, detail, attempt }) => ({ recipient, detail, attempt }));

  it('shows on /metrics that SendMail asks only about the recipients its filter may hold, once started', async () => {
    await dropping.sendMail({ mail: aMail({ to: to('metrics@example.org') }), idempotencyKey: '' });

    await waitFor('the suppression filter in use', async () => {
      const { body } = await httpGet(`${gateway.metricsUrl}/metrics`);
      return sampleValue(body, 'mailgateway_suppression_filter_ready') === 1 ? true : undefined;
    });
  });

  it('drops suppressed recipients, answers them, and sends the message to the others', async () => {
    await suppress('ada-1@example.org', 'complaint');
    const { messageId, suppressedRecipients } = await dropping.sendMail({
      mail: aMail({ to: to('Ada-1@Example.org', 'bob-1@example.org'), bcc: to('ada-1@example.org') }),
      idempotencyKey: '',
    });

    expect(suppressedRecipients).toEqual(['ada-1@example.org']);
    const final = await finalOf(dropping, messageId);
    expect(final.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(driver.callsFor(messageId).map(({ mail }) => [mail.to, mail.cc, mail.bcc])).toEqual([
      [to('bob-1@example.org'), [], []],
    ]);
    expect(suppressedEvents(final)).toEqual([
      { recipient: 'ada-1@example.org', detail: 'suppressed (complaint, scope *)', attempt: 0 },
    ]);
  });

  it('stores a message with every recipient suppressed SUPPRESSED, and never sends it', async () => {
    await suppress('ada-2@example.org', 'hard_bounce');
    await suppress('bob-2@example.org', 'unsubscribe', 'dropping');
    const { messageId, suppressedRecipients } = await dropping.sendMail({
      mail: aMail({ to: to('ada-2@example.org'), cc: to('bob-2@example.org') }),
      idempotencyKey: '',
    });
    // A message after it, delivered: the loop has had its chance at the first.
    const later = await dropping.sendMail({
      mail: aMail({ to: to('carol-2@example.org') }),
      idempotencyKey: '',
    });
    await finalOf(dropping, later.messageId);

    expect(suppressedRecipients).toEqual(['ada-2@example.org', 'bob-2@example.org']);
    const message = await dropping.getMessage({ messageId });
    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_SUPPRESSED);
    expect(message.attempts).toBe(0);
    expect(driver.callsFor(messageId)).toEqual([]);
    expect(message.events.map(({ type }) => type).sort()).toEqual(
      [
        MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
        MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_SUPPRESSED,
        MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_SUPPRESSED,
        MessageEventType.MESSAGE_EVENT_TYPE_SUPPRESSED,
      ].sort(),
    );
    expect(
      suppressedEvents(message)
        .map(({ detail }) => detail)
        .sort(),
    ).toEqual(['suppressed (hard_bounce, scope *)', 'suppressed (unsubscribe, scope dropping)']);
  });

  it('refuses a message with a suppressed recipient for a refusing source, naming the field, storing nothing', async () => {
    await suppress('ada-3@example.org', 'complaint');
    const before = await gateway.count('outbox_message');

    await expectGrpcError(
      refusing.sendMail({
        mail: aMail({ to: to('bob-3@example.org'), cc: to('carol-3@example.org', 'ADA-3@example.org') }),
        idempotencyKey: '',
      }),
      status.FAILED_PRECONDITION,
      'mail.cc[1].address: ada-3@example.org is on the suppression list (complaint)',
    );
    const { results } = await refusing.sendMailBatch({
      items: [
        { mail: aMail({ to: to('bob-3@example.org') }), idempotencyKey: '' },
        { mail: aMail({ to: to('ada-3@example.org') }), idempotencyKey: '' },
      ],
    });

    expect(results[0].accepted?.suppressedRecipients).toEqual([]);
    expect(results[1].rejected).toEqual({
      code: 'FAILED_PRECONDITION',
      field: 'mail.to[0].address',
      reason: 'ada-3@example.org is on the suppression list (complaint)',
    });
    expect(await gateway.count('outbox_message')).toBe(before + 1);
  });

  it('stops the send at claim for an address suppressed after the accept', async () => {
    const sendAt = Date.now() + 2_000;
    const { messageId, suppressedRecipients } = await dropping.sendMail({
      mail: aMail({ to: to('ada-4@example.org') }),
      idempotencyKey: '',
      sendAt: { seconds: Math.floor(sendAt / 1000), nanos: (sendAt % 1000) * 1e6 },
    });
    await suppress('ada-4@example.org', 'complaint');

    expect(suppressedRecipients).toEqual([]);
    const final = await finalOf(dropping, messageId);
    expect(final.status).toBe(MessageStatus.MESSAGE_STATUS_SUPPRESSED);
    expect(driver.callsFor(messageId)).toEqual([]);
    expect(suppressedEvents(final)).toEqual([
      { recipient: 'ada-4@example.org', detail: 'suppressed (complaint, scope *)', attempt: 1 },
    ]);
    expect(final.events.map(({ type }) => type)).not.toContain(MessageEventType.MESSAGE_EVENT_TYPE_FAILED);
    expect(final.events.at(-1)?.type).toBe(MessageEventType.MESSAGE_EVENT_TYPE_SUPPRESSED);
  });

  it("ignores another source's entry", async () => {
    await suppress('ada-5@example.org', 'manual', 'refusing');
    const { messageId, suppressedRecipients } = await dropping.sendMail({
      mail: aMail({ to: to('ada-5@example.org') }),
      idempotencyKey: '',
    });

    expect(suppressedRecipients).toEqual([]);
    expect((await finalOf(dropping, messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(driver.callsFor(messageId).map(({ mail }) => mail.to)).toEqual([to('ada-5@example.org')]);
  });

  it('replays a retried call under the same key whatever the list says since, even for a refusing source', async () => {
    const sendAt = Date.now() + 60_000;
    const request = {
      mail: aMail({ to: to('ada-6@example.org'), cc: to('bob-6@example.org') }),
      idempotencyKey: 'k-6',
      // Not due during the test: the claim does not see the new entry.
      sendAt: { seconds: Math.floor(sendAt / 1000), nanos: 0 },
    };
    const first = await refusing.sendMail(request);
    await suppress('ada-6@example.org', 'complaint');
    const retried = await refusing.sendMail(request);

    expect(first.suppressedRecipients).toEqual([]);
    expect(retried).toEqual({ ...first, replayed: true, suppressedRecipients: [] });
    await expectGrpcError(
      refusing.sendMail({ ...request, idempotencyKey: 'k-7' }),
      status.FAILED_PRECONDITION,
      /^mail\.to\[0\]\.address: ada-6@example\.org/,
    );
  });
});
