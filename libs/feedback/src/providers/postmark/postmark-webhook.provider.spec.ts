import type { InboundRequest } from '../../intake/webhook-provider';
import { PostmarkWebhookProvider } from './postmark-webhook.provider';

const CREDENTIALS = { username: 'postmark', password: 'a-long-webhook-password', pathToken: 't'.repeat(40) };
const AUTHORIZATION = `Basic ${Buffer.from('postmark:a-long-webhook-password').toString('base64')}`;

// Postmark's documented examples (postmarkapp.com/developer/webhooks: bounce, delivery, spam
// complaint and subscription change webhooks), with a RecordType each as Postmark now sends.
const BOUNCE = {
  RecordType: 'Bounce',
  MessageStream: 'outbound',
  ID: 4323372036854775807,
  Type: 'HardBounce',
  TypeCode: 1,
  Name: 'Hard bounce',
  Tag: 'Test',
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  Metadata: { a_key: 'a_value', b_key: 'b_value' },
  ServerID: 23,
  Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
  Details: 'Test bounce details',
  Email: 'john@example.com',
  From: 'sender@example.com',
  BouncedAt: '2019-11-05T16:33:54.9070259Z',
  DumpAvailable: true,
  Inactive: true,
  CanActivate: true,
  Subject: 'Test subject',
  Content: '<Full dump of bounce>',
};
const DELIVERY = {
  RecordType: 'Delivery',
  ServerID: 23,
  MessageStream: 'outbound',
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  Recipient: 'john@example.com',
  Tag: 'welcome-email',
  DeliveredAt: '2019-11-05T16:33:54.9070259Z',
  Details: 'Test delivery webhook details',
  Metadata: { a_key: 'a_value', b_key: 'b_value' },
};
const SPAM_COMPLAINT = {
  RecordType: 'SpamComplaint',
  MessageStream: 'outbound',
  ID: 42,
  Type: 'SpamComplaint',
  TypeCode: 512,
  Name: 'Spam complaint',
  Tag: 'Test',
  MessageID: '00000000-0000-0000-0000-000000000000',
  Metadata: { a_key: 'a_value', b_key: 'b_value' },
  ServerID: 1234,
  Description: '',
  Details: 'Test spam complaint details',
  Email: 'john@example.com',
  From: 'sender@example.com',
  BouncedAt: '2019-11-05T16:33:54.9070259Z',
  DumpAvailable: true,
  Inactive: true,
  CanActivate: false,
  Subject: 'Test subject',
  Content: '<Abuse report dump>',
};
const SUBSCRIPTION_CHANGE = {
  RecordType: 'SubscriptionChange',
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  ServerID: 123456,
  MessageStream: 'outbound',
  ChangedAt: '2020-02-01T10:53:34.416071Z',
  Recipient: 'bounced-address@wildbit.com',
  Origin: 'Recipient',
  SuppressSending: true,
  SuppressionReason: 'HardBounce',
  Tag: 'my-tag',
  Metadata: { example: 'value', example_2: 'value' },
};

function request(record: unknown, overrides: Partial<InboundRequest> = {}): InboundRequest {
  return {
    method: 'POST',
    subpath: `/${CREDENTIALS.pathToken}`,
    headers: { authorization: AUTHORIZATION, 'content-type': 'application/json' },
    body: Buffer.from(typeof record === 'string' ? record : JSON.stringify(record)),
    receivedAt: Date.now(),
    ...overrides,
  };
}

describe(PostmarkWebhookProvider.name, () => {
  const sut = new PostmarkWebhookProvider(CREDENTIALS);

  async function feedbackOf(record: unknown) {
    const result = await sut.verify(request(record));
    if (result.kind !== 'verified') throw new Error(`refused: ${result.explanation}`);
    return result.feedback;
  }

  it("reads the documented bounce: a hard bounce, its 64-bit ID (past 2^53) digested, Postmark's MessageID", async () => {
    expect(await feedbackOf(BOUNCE)).toEqual([
      {
        provider: 'postmark',
        eventId: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown as string,
        kind: 'bounce',
        bounceClass: 'hard',
        recipient: 'john@example.com',
        providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
        detail: 'HardBounce Test bounce details',
        occurredAt: Date.parse('2019-11-05T16:33:54.907Z'),
      },
    ]);
  });

  it.each([
    ['SoftBounce', { kind: 'bounce', bounceClass: 'soft' }],
    ['Transient', { kind: 'bounce', bounceClass: 'soft' }],
    ['SpamNotification', { kind: 'bounce', bounceClass: 'undetermined' }],
    ['Blocked', { kind: 'bounce', bounceClass: 'undetermined' }],
    ['DMARCPolicy', { kind: 'bounce', bounceClass: 'undetermined' }],
    ['ManuallyDeactivated', { kind: 'dropped', dropReason: 'provider-list' }],
    ['Unsubscribe', { kind: 'unsubscribe' }],
  ])('a %s bounce is %j', async (type, expected) => {
    const [feedback] = await feedbackOf({ ...BOUNCE, Type: type });
    expect(feedback).toMatchObject(expected);
    if (expected.kind !== 'bounce') expect(feedback).not.toHaveProperty('bounceClass');
  });

  it.each([
    ['SoftBounce', 'smtp;550 5.7.1 Message rejected due to content restrictions'],
    ['SoftBounce', '421 4.7.0 Try again later, closing connection'],
    ['HardBounce', '550 5.7.26 unauthenticated mail is prohibited'],
  ])('a %s whose details say %s is undetermined: a policy refusal', async (type, details) => {
    const [feedback] = await feedbackOf({ ...BOUNCE, Type: type, Details: details });
    expect(feedback).toMatchObject({ kind: 'bounce', bounceClass: 'undetermined' });
  });

  it('stores nothing for an auto-responder reply, an open or a click', async () => {
    expect(await feedbackOf({ ...BOUNCE, Type: 'AutoResponder' })).toEqual([]);
    expect(await feedbackOf({ RecordType: 'Open', MessageID: 'x', Recipient: 'john@example.com' })).toEqual(
      [],
    );
    expect(await feedbackOf({ RecordType: 'Click', MessageID: 'x', Recipient: 'john@example.com' })).toEqual(
      [],
    );
  });

  it('reads the documented delivery, with a stable digest as its event id', async () => {
    const [first] = await feedbackOf(DELIVERY);
    expect(first).toMatchObject({
      kind: 'delivered',
      recipient: 'john@example.com',
      providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      detail: 'Test delivery webhook details',
    });
    expect(first.eventId).toMatch(/^[0-9a-f]{64}$/);
    const [again] = await feedbackOf({ ...DELIVERY, Details: 'retried by Postmark' });
    expect(again.eventId).toBe(first.eventId);
    const [other] = await feedbackOf({ ...DELIVERY, Recipient: 'jane@example.com' });
    expect(other.eventId).not.toBe(first.eventId);
  });

  it('uses a bounce ID that JSON holds exactly as the event id', async () => {
    expect(await feedbackOf({ ...BOUNCE, ID: 692560173 })).toMatchObject([{ eventId: '692560173' }]);
  });

  it('reads the documented spam complaint as a complaint', async () => {
    expect(await feedbackOf(SPAM_COMPLAINT)).toMatchObject([
      { eventId: '42', kind: 'complaint', recipient: 'john@example.com' },
    ]);
  });

  it("reads a subscription change: Postmark's own suppression is dropped, the recipient's unsubscribe is unsubscribe", async () => {
    expect(await feedbackOf(SUBSCRIPTION_CHANGE)).toMatchObject([
      {
        kind: 'dropped',
        dropReason: 'provider-list',
        recipient: 'bounced-address@wildbit.com',
        detail: 'suppressed HardBounce (origin Recipient)',
      },
    ]);
    expect(
      await feedbackOf({ ...SUBSCRIPTION_CHANGE, SuppressionReason: 'ManualSuppression' }),
    ).toMatchObject([{ kind: 'unsubscribe' }]);
    expect(
      (await feedbackOf({ ...SUBSCRIPTION_CHANGE, SuppressionReason: 'ManualSuppression' }))[0],
    ).not.toHaveProperty('dropReason');
    expect(
      await feedbackOf({
        ...SUBSCRIPTION_CHANGE,
        SuppressionReason: 'ManualSuppression',
        Origin: 'Customer',
      }),
    ).toMatchObject([{ kind: 'dropped', dropReason: 'provider-list' }]);
    expect(await feedbackOf({ ...SUBSCRIPTION_CHANGE, SuppressSending: false })).toEqual([]);
  });

  it("matches by the gateway's id in Metadata when Postmark echoes it", async () => {
    const [feedback] = await feedbackOf({ ...DELIVERY, Metadata: { mailgateway_id: 'gw-1' } });
    expect(feedback).toMatchObject({ gatewayMessageId: 'gw-1', providerMessageId: DELIVERY.MessageID });
  });

  it('refuses a wrong or missing path token, and wrong or missing credentials', async () => {
    const wrong = `Basic ${Buffer.from('postmark:a-long-webhook-passworx').toString('base64')}`;
    for (const overrides of [
      { subpath: '' },
      { subpath: `/${'t'.repeat(39)}` },
      { subpath: `/${CREDENTIALS.pathToken}/more` },
      { headers: {} },
      { headers: { authorization: wrong } },
      { headers: { authorization: `Bearer ${CREDENTIALS.password}` } },
    ]) {
      const result = await sut.verify(request(BOUNCE, overrides));
      expect(result).toMatchObject({ kind: 'refused', status: 401, reason: 'unauthenticated' });
      expect(JSON.stringify(result)).not.toContain(CREDENTIALS.password);
    }
  });

  it('accepts the Basic scheme in any case', async () => {
    const result = await sut.verify(
      request(BOUNCE, { headers: { authorization: AUTHORIZATION.replace('Basic', 'basic') } }),
    );
    expect(result.kind).toBe('verified');
  });

  it('refuses an authenticated body that is not a documented record, naming the problem', async () => {
    for (const [record, problem] of [
      ['{"RecordType": "Bounce"', 'not JSON'],
      [[BOUNCE], 'not a JSON object'],
      [{ ...BOUNCE, RecordType: undefined }, '"RecordType" is missing'],
      [{ ...BOUNCE, ID: 'forty-two' }, '"ID" is not a number'],
      [{ ...BOUNCE, Email: '' }, '"Email" is not an address'],
      [{ ...DELIVERY, DeliveredAt: 'yesterday' }, '"DeliveredAt" is not an ISO 8601 time'],
      [{ ...SUBSCRIPTION_CHANGE, SuppressSending: 'true' }, '"SuppressSending" is not a boolean'],
    ] as const) {
      const result = await sut.verify(request(record));
      expect(result).toMatchObject({ kind: 'refused', status: 400, reason: 'malformed' });
      expect(result.kind === 'refused' && result.explanation).toContain(problem);
    }
  });
});
