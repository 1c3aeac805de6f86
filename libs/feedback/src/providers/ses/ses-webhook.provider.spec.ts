// SES notification contents as AWS documents them ("Amazon SNS notification contents for Amazon
// SES" and "Contents of event data that Amazon SES publishes to Amazon SNS": notificationType /
// eventType, mail.commonHeaders, mail.headers, bounce.bounceType/bounceSubType/bouncedRecipients,
// complaint.complaintFeedbackType, delivery.recipients, deliveryDelay.delayedRecipients, reject);
// the SNS envelope and its string to sign from "Verifying the signatures of Amazon SNS messages".
import { createHash } from 'node:crypto';
import { loadConfigSlice } from '@mailgateway/config';
import { SnsSigner, type SnsMessageFields } from '@mailgateway/testing';
import type { InboundRequest } from '../../intake/webhook-provider';
import { SesWebhookProvider } from './ses-webhook.provider';
import { sesConfig } from './ses.settings';
import type { SnsFetcher } from './sns-fetcher';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ses-feedback';
const CERT_URL = 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';
const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const WINDOW_MS = 300_000;
const GATEWAY_ID = '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90';
const SNS_MESSAGE_ID = '5d2f8c1e-7b7a-5a3e-9c1d-6f0e4b2a1c00';
const CN_TOPIC = 'arn:aws-cn:sns:cn-north-1:123456789012:ses-feedback';

/** The event id of one recipient of an SNS notification: MessageId and a short digest of the address. */
const eventIdOf = (recipient: string, messageId = SNS_MESSAGE_ID) =>
  `${messageId}:${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}`;

class FakeSnsFetcher implements SnsFetcher {
  readonly fetched: string[] = [];
  readonly documents = new Map<string, string>();

  async get(url: string): Promise<string> {
    this.fetched.push(url);
    const document = this.documents.get(url);
    if (document === undefined) throw new Error(`GET ${url} answered HTTP 404`);
    return document;
  }
}

const mail = (overrides: Record<string, unknown> = {}) => ({
  timestamp: '2026-12-01T11:59:50.000Z',
  messageId: '0102018f3c5e7a1b-ses-id-000000',
  source: 'billing@example.com',
  destination: ['ada@example.org', 'Charles <Charles@Example.org>'],
  headersTruncated: false,
  headers: [
    { name: 'Message-ID', value: `<${GATEWAY_ID}@mail.example.com>` },
    { name: 'X-Mailgateway-Message-Id', value: GATEWAY_ID },
  ],
  commonHeaders: { messageId: `<${GATEWAY_ID}@mail.example.com>`, subject: 'Your invoice' },
  ...overrides,
});

describe(SesWebhookProvider.name, () => {
  let signer: SnsSigner;
  let fetcher: FakeSnsFetcher;
  let sut: SesWebhookProvider;

  beforeAll(async () => {
    signer = await SnsSigner.create();
  });

  beforeEach(() => {
    fetcher = new FakeSnsFetcher();
    fetcher.documents.set(CERT_URL, signer.certificatePem);
    sut = new SesWebhookProvider(
      loadConfigSlice(sesConfig, {
        SES_SNS_TOPIC_ARNS: `${TOPIC},arn:aws:sns:us-east-1:123456789012:other,${CN_TOPIC}`,
      }),
      {
        replayWindowMs: WINDOW_MS,
        fetcher,
      },
    );
  });

  const envelope = (message: unknown, overrides: SnsMessageFields = {}): SnsMessageFields => ({
    Type: 'Notification',
    MessageId: SNS_MESSAGE_ID,
    TopicArn: TOPIC,
    Message: typeof message === 'string' ? message : JSON.stringify(message),
    Timestamp: '2026-12-01T11:59:58.000Z',
    SignatureVersion: '1',
    SigningCertURL: CERT_URL,
    UnsubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x',
    ...overrides,
  });

  const request = (fields: object, overrides: Partial<InboundRequest> = {}): InboundRequest => ({
    method: 'POST',
    subpath: '',
    headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
    body: Buffer.from(JSON.stringify(fields)),
    receivedAt: NOW,
    ...overrides,
  });

  const verifySigned = (message: unknown, overrides: SnsMessageFields = {}) =>
    sut.verify(request(signer.sign(envelope(message, overrides))));

  describe('notifications', () => {
    it('turns a permanent bounce into one hard bounce per bounced recipient, matched by the gateway id', async () => {
      const verification = await verifySigned({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          timestamp: '2026-12-01T11:59:55.000Z',
          bouncedRecipients: [
            {
              emailAddress: 'Ada@Example.org',
              action: 'failed',
              status: '5.1.1',
              diagnosticCode: 'smtp; 550 5.1.1 user unknown',
            },
            { emailAddress: 'charles@example.org', status: '5.1.1' },
          ],
        },
        mail: mail(),
      });

      expect(verification).toEqual({
        kind: 'verified',
        feedback: [
          {
            provider: 'smtp',
            eventId: eventIdOf('ada@example.org'),
            kind: 'bounce',
            bounceClass: 'hard',
            recipient: 'ada@example.org',
            gatewayMessageId: GATEWAY_ID,
            providerMessageId: '0102018f3c5e7a1b-ses-id-000000',
            detail: 'SES bounce Permanent/General: 5.1.1: smtp; 550 5.1.1 user unknown',
            occurredAt: Date.parse('2026-12-01T11:59:55.000Z'),
          },
          expect.objectContaining({
            eventId: eventIdOf('charles@example.org'),
            recipient: 'charles@example.org',
            bounceClass: 'hard',
          }),
        ],
      });
    });

    it.each([
      ['Permanent', 'OnAccountSuppressionList', '5.1.1', { kind: 'dropped', dropReason: 'provider-list' }],
      ['Permanent', 'Suppressed', '5.1.1', { kind: 'dropped', dropReason: 'provider-list' }],
      ['Transient', 'General', '4.7.0', { kind: 'bounce', bounceClass: 'undetermined' }],
      ['Transient', 'MailboxFull', '4.2.2', { kind: 'bounce', bounceClass: 'soft' }],
      ['Undetermined', 'Undetermined', '', { kind: 'bounce', bounceClass: 'undetermined' }],
      ['Permanent', 'General', '5.7.1', { kind: 'bounce', bounceClass: 'undetermined' }],
    ])('reads a %s/%s bounce (status %s) as %o', async (bounceType, bounceSubType, status, expected) => {
      const verification = await verifySigned({
        eventType: 'Bounce',
        bounce: {
          bounceType,
          bounceSubType,
          bouncedRecipients: [{ emailAddress: 'ada@example.org', status }],
        },
        mail: mail(),
      });

      expect(verification).toMatchObject({ kind: 'verified', feedback: [expected] });
      if (expected.kind === 'dropped') {
        expect(verification).not.toMatchObject({ feedback: [{ bounceClass: expect.anything() }] });
      }
    });

    it('reads 5.7.x in the diagnostic code as undetermined, whatever the bounce type', async () => {
      const verification = await verifySigned({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [
            { emailAddress: 'ada@example.org', diagnosticCode: 'smtp; 550 5.7.26 unauthenticated' },
          ],
        },
        mail: mail(),
      });

      expect(verification).toMatchObject({ feedback: [{ kind: 'bounce', bounceClass: 'undetermined' }] });
    });

    it('keeps event ids within 255 characters for the longest addresses, the same on every retry', async () => {
      const longest = `${'a'.repeat(64)}@${'b'.repeat(185)}.org`; // 254 octets
      const bounce = (emailAddress: string) => ({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [{ emailAddress }, { emailAddress: 'ada@example.org' }],
        },
        mail: mail(),
      });

      const first = await verifySigned(bounce(longest));
      const retry = await verifySigned(bounce(longest.toUpperCase()));

      if (first.kind !== 'verified' || retry.kind !== 'verified') throw new Error('refused');
      const [long, short] = first.feedback;
      expect(long).toMatchObject({ recipient: longest, eventId: eventIdOf(longest) });
      expect(long.eventId.length).toBeLessThanOrEqual(255);
      expect(retry.feedback.map(({ eventId }) => eventId)).toEqual(
        first.feedback.map(({ eventId }) => eventId),
      );
      expect(short.eventId).not.toBe(long.eventId);
    });

    it('skips a recipient that is not an address and keeps the others', async () => {
      const verification = await verifySigned({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [
            { emailAddress: 'nobody' },
            { status: '5.1.1' },
            7,
            { emailAddress: 'ada@example.org' },
          ],
        },
        mail: mail(),
      });

      expect(verification).toMatchObject({ kind: 'verified', feedback: [{ recipient: 'ada@example.org' }] });
      expect(verification).toMatchObject({ feedback: { length: 1 } });
    });

    it('turns a complaint into one complaint per complained recipient, and ignores "not-spam"', async () => {
      const complaint = (complaintFeedbackType?: string) => ({
        notificationType: 'Complaint',
        complaint: {
          complainedRecipients: [{ emailAddress: 'ada@example.org' }],
          timestamp: '2026-12-01T11:59:40.000Z',
          ...(complaintFeedbackType ? { complaintFeedbackType } : {}),
        },
        mail: mail(),
      });

      await expect(verifySigned(complaint('abuse'))).resolves.toMatchObject({
        feedback: [{ kind: 'complaint', recipient: 'ada@example.org', detail: 'SES complaint: abuse' }],
      });
      await expect(verifySigned(complaint())).resolves.toMatchObject({ feedback: [{ kind: 'complaint' }] });
      await expect(verifySigned(complaint('not-spam'))).resolves.toEqual({ kind: 'verified', feedback: [] });
    });

    it('turns a delivery into one delivered per recipient, a delay into deferred, a reject into dropped', async () => {
      await expect(
        verifySigned({
          eventType: 'Delivery',
          delivery: { recipients: ['ada@example.org', 'charles@example.org'], smtpResponse: '250 2.0.0 OK' },
          mail: mail(),
        }),
      ).resolves.toMatchObject({
        feedback: [
          { kind: 'delivered', recipient: 'ada@example.org', detail: 'SES delivery: 250 2.0.0 OK' },
          { kind: 'delivered', recipient: 'charles@example.org' },
        ],
      });
      await expect(
        verifySigned({
          eventType: 'DeliveryDelay',
          deliveryDelay: {
            delayType: 'MailboxFull',
            delayedRecipients: [{ emailAddress: 'ada@example.org', status: '4.2.2' }],
          },
          mail: mail(),
        }),
      ).resolves.toMatchObject({ feedback: [{ kind: 'deferred', recipient: 'ada@example.org' }] });
      await expect(
        verifySigned({ eventType: 'Reject', reject: { reason: 'Bad content' }, mail: mail() }),
      ).resolves.toMatchObject({
        feedback: [
          { kind: 'dropped', recipient: 'ada@example.org', detail: 'SES reject: Bad content' },
          { kind: 'dropped', recipient: 'charles@example.org' },
        ],
      });
    });

    it('gives no feedback for SES events without a recipient outcome (Send, Open)', async () => {
      await expect(verifySigned({ eventType: 'Send', send: {}, mail: mail() })).resolves.toEqual({
        kind: 'verified',
        feedback: [],
      });
    });

    it('matches by the Message-ID when the header is missing, else by SES message id alone', async () => {
      const bounce = (overrides: Record<string, unknown>) => ({
        notificationType: 'Bounce',
        bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: 'ada@example.org' }] },
        mail: mail(overrides),
      });

      await expect(verifySigned(bounce({ headers: [] }))).resolves.toMatchObject({
        feedback: [{ gatewayMessageId: GATEWAY_ID, providerMessageId: '0102018f3c5e7a1b-ses-id-000000' }],
      });
      const foreign = await verifySigned(
        bounce({ headers: [], commonHeaders: { messageId: '<CAF=abc@mail.gmail.com>' } }),
      );
      expect(foreign).toMatchObject({ feedback: [{ providerMessageId: '0102018f3c5e7a1b-ses-id-000000' }] });
      expect(foreign).not.toMatchObject({ feedback: [{ gatewayMessageId: expect.anything() }] });
    });

    it('accepts SignatureVersion 2', async () => {
      await expect(
        verifySigned(
          { eventType: 'Delivery', delivery: { recipients: ['ada@example.org'] }, mail: mail() },
          { SignatureVersion: '2' },
        ),
      ).resolves.toMatchObject({ kind: 'verified', feedback: [{ kind: 'delivered' }] });
    });

    it('fetches each signing certificate once', async () => {
      const delivery = { eventType: 'Delivery', delivery: { recipients: ['ada@example.org'] }, mail: mail() };

      for (let index = 0; index < 3; index++) await verifySigned(delivery, { MessageId: `m-${index}` });

      expect(fetcher.fetched).toEqual([CERT_URL]);
    });

    it('refuses a Message that is not SES JSON', async () => {
      await expect(verifySigned('Hello world!')).resolves.toMatchObject({
        kind: 'refused',
        status: 400,
        reason: 'malformed',
      });
    });
  });

  describe('refusals', () => {
    const delivery = { eventType: 'Delivery', delivery: { recipients: ['ada@example.org'] }, mail: mail() };

    it('refuses a signature that does not match, with 401', async () => {
      const signed = signer.sign(envelope(delivery));
      const tampered = { ...signed, Message: signed.Message.replace('ada@', 'eve@') };

      await expect(sut.verify(request(tampered))).resolves.toEqual({
        kind: 'refused',
        status: 401,
        reason: 'unauthenticated',
        explanation: 'the signature does not match the message',
      });
    });

    it('refuses a topic not in SES_SNS_TOPIC_ARNS with 403, fetching nothing', async () => {
      await expect(
        verifySigned(delivery, { TopicArn: 'arn:aws:sns:eu-west-1:999999999999:ses-feedback' }),
      ).resolves.toMatchObject({
        kind: 'refused',
        status: 403,
        explanation: 'topic arn:aws:sns:eu-west-1:999999999999:ses-feedback is not in SES_SNS_TOPIC_ARNS',
      });
      expect(fetcher.fetched).toEqual([]);
    });

    it.each([
      ['http', 'http://sns.eu-west-1.amazonaws.com/cert.pem', 'is not https'],
      ['another host', 'https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem', 'is not an SNS host'],
      ['a look-alike host', 'https://sns-eu-west-1.amazonaws.com/cert.pem', 'is not an SNS host'],
      ['a host below an SNS host', 'https://x.sns.eu-west-1.amazonaws.com/cert.pem', 'is not an SNS host'],
      ['a port', 'https://sns.eu-west-1.amazonaws.com:8443/cert.pem', 'names a port'],
      ['credentials', 'https://user@sns.eu-west-1.amazonaws.com/cert.pem', 'credentials'],
      ['not a .pem', 'https://sns.eu-west-1.amazonaws.com/cert.txt', 'SimpleNotificationService-<hex>.pem'],
      [
        'another path',
        'https://sns.eu-west-1.amazonaws.com/other/SimpleNotificationService-0123456789abcdef.pem',
        'SimpleNotificationService-<hex>.pem',
      ],
      [
        'a query on the path',
        'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem.evil?x=.pem',
        'SimpleNotificationService-<hex>.pem',
      ],
      [
        'another region than the topic',
        'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem',
        "not in the topic's region (eu-west-1)",
      ],
      [
        'an uppercase host',
        'https://SNS.EU-WEST-1.AMAZONAWS.COM/SimpleNotificationService-0123456789abcdef.pem',
        'not written as SNS writes it',
      ],
      [
        'a trailing dot on the host',
        'https://sns.eu-west-1.amazonaws.com./SimpleNotificationService-0123456789abcdef.pem',
        'is not an SNS host',
      ],
      [
        'an explicit :443',
        'https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-0123456789abcdef.pem',
        'not written as SNS writes it',
      ],
    ])('refuses a SigningCertURL with %s, fetching nothing', async (_case, url, explanation) => {
      const verification = await verifySigned(delivery, { SigningCertURL: url });

      expect(verification).toMatchObject({ kind: 'refused', status: 403, reason: 'untrusted-certificate' });
      expect(verification).toMatchObject({ explanation: expect.stringContaining(explanation) });
      expect(fetcher.fetched).toEqual([]);
    });

    it('accepts the China partition host (amazonaws.com.cn)', async () => {
      const url = 'https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem';
      fetcher.documents.set(url, signer.certificatePem);

      await expect(
        verifySigned(delivery, { SigningCertURL: url, TopicArn: CN_TOPIC }),
      ).resolves.toMatchObject({
        kind: 'verified',
      });
      // the same host for a topic elsewhere is refused
      await expect(verifySigned(delivery, { SigningCertURL: url })).resolves.toMatchObject({ status: 403 });
    });

    it.each([
      ['older than SNS retries (1 h)', '2026-12-01T10:59:59.999Z'],
      ['too far ahead (the replay window)', '2026-12-01T12:05:00.001Z'],
    ])('refuses a signed Timestamp %s with 401 stale', async (_case, timestamp) => {
      await expect(verifySigned(delivery, { Timestamp: timestamp })).resolves.toMatchObject({
        kind: 'refused',
        status: 401,
        reason: 'stale',
      });
    });

    it.each([
      ['past the replay window', '2026-12-01T11:30:00.000Z'],
      ['just within SNS retries (1 h)', '2026-12-01T11:00:00.000Z'],
    ])('accepts a validly signed SNS retry %s: it keeps its original Timestamp', async (_case, timestamp) => {
      await expect(verifySigned(delivery, { Timestamp: timestamp })).resolves.toMatchObject({
        kind: 'verified',
        feedback: [{ kind: 'delivered', recipient: 'ada@example.org' }],
      });
    });

    it('checks the signature before the Timestamp: an old forged message is unauthenticated', async () => {
      const signed = signer.sign(envelope(delivery, { Timestamp: '2026-12-01T09:00:00.000Z' }));
      const tampered = { ...signed, Message: signed.Message.replace('ada@', 'eve@') };

      await expect(sut.verify(request(tampered))).resolves.toMatchObject({
        status: 401,
        reason: 'unauthenticated',
      });
    });

    it.each([
      ['not JSON', Buffer.from('Type=Notification')],
      ['an unknown Type', Buffer.from(JSON.stringify({ ...envelope(delivery), Type: 'Other' }))],
      ['no Signature', Buffer.from(JSON.stringify(envelope(delivery)))],
    ])('refuses a body that is %s with 400', async (_case, body) => {
      await expect(sut.verify(request({}, { body }))).resolves.toMatchObject({
        kind: 'refused',
        status: 400,
        reason: 'malformed',
      });
    });

    it('refuses an unknown SignatureVersion with 400', async () => {
      await expect(verifySigned(delivery, { SignatureVersion: '3' })).resolves.toMatchObject({ status: 400 });
    });

    it('refuses a GET with 405', async () => {
      await expect(
        sut.verify(request(signer.sign(envelope(delivery)), { method: 'GET' })),
      ).resolves.toMatchObject({
        status: 405,
        reason: 'method',
      });
    });

    it('rejects (so SNS hears 5xx and retries) when the certificate cannot be fetched', async () => {
      fetcher.documents.clear();

      await expect(verifySigned(delivery)).rejects.toThrow('answered HTTP 404');
      fetcher.documents.set(CERT_URL, signer.certificatePem);
      await expect(verifySigned(delivery)).resolves.toMatchObject({ kind: 'verified' });
    });
  });

  describe('subscription confirmation', () => {
    const subscribeUrl =
      'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses-feedback&Token=2336412f37';
    const confirmation = (overrides: SnsMessageFields = {}) =>
      signer.sign(
        envelope(
          'You have chosen to subscribe to the topic arn:aws:sns:eu-west-1:123456789012:ses-feedback.',
          {
            Type: 'SubscriptionConfirmation',
            Token: '2336412f37',
            SubscribeURL: subscribeUrl,
            ...overrides,
          },
        ),
      );

    it('confirms by a GET of the SubscribeURL and stores nothing', async () => {
      fetcher.documents.set(subscribeUrl, '<ConfirmSubscriptionResponse/>');

      await expect(sut.verify(request(confirmation()))).resolves.toEqual({ kind: 'verified', feedback: [] });
      expect(fetcher.fetched).toEqual([CERT_URL, subscribeUrl]);
    });

    it.each([
      ['off SNS hosts', 'https://attacker.example/?Action=ConfirmSubscription'],
      ['in another region than the topic', 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription'],
    ])('never calls a SubscribeURL %s, nor fetches a certificate for it', async (_case, subscribeURL) => {
      const verification = await sut.verify(request(confirmation({ SubscribeURL: subscribeURL })));

      expect(verification).toMatchObject({ kind: 'refused', status: 403 });
      expect(fetcher.fetched).toEqual([]);
    });

    it('refuses a confirmation whose signature does not match, without confirming', async () => {
      const tampered = { ...confirmation(), SubscribeURL: `${subscribeUrl}x` };

      await expect(sut.verify(request(tampered))).resolves.toMatchObject({ status: 401 });
      expect(fetcher.fetched).toEqual([CERT_URL]);
    });
  });
});
