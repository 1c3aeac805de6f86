import { generateKeyPairSync, sign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  GetMessageResponse,
  MessageEventType,
  MessageStatus,
  RecipientState,
  SuppressionReason,
} from '@mailgateway/contracts';
import { FeedbackIntakeLifecycle } from '@mailgateway/feedback';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  FakeUpstream,
  StaticHostResolver,
  TestCertificateAuthority,
  TEST_SOURCE,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { gatewayPerTest } from './support/test-gateway';

/** SendGrid's API under its own name, served over HTTPS on 127.0.0.2 with a test CA. */
const SENDGRID = 'api.sendgrid.test';
const ADDRESS = '127.0.0.2';
const ANN = 'ann@example.com';
const BOB = 'bob@example.com';

/** The key pair of SendGrid's Signed Event Webhook, made for this run. */
const webhookKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const webhookPublicKey = webhookKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

/** A request as SendGrid signs it: ECDSA P-256 over the timestamp header followed by the raw body. */
function signedEvents(events: Record<string, unknown>[]): { headers: Record<string, string>; body: Buffer } {
  const body = Buffer.from(JSON.stringify(events));
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.concat([Buffer.from(timestamp), body]), webhookKeys.privateKey);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-twilio-email-event-webhook-signature': signature.toString('base64'),
      'x-twilio-email-event-webhook-timestamp': timestamp,
    },
  };
}

function post(port: number, { headers, body }: ReturnType<typeof signedEvents>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/webhooks/sendgrid',
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Who a request to SendGrid's mail/send was addressed to. */
function addresseesOf(body: string): string[] {
  const request = JSON.parse(body) as { personalizations: { to?: { email: string }[] }[] };
  return request.personalizations.flatMap(({ to = [] }) => to.map(({ email }) => email));
}

// The whole way back: a message goes out through the sendgrid driver to a real HTTPS upstream,
// SendGrid's signed events come back to the webhook listener, the processor lands them on the
// recipients, and the complained address is not sent to again, at accept or at all.
describe.each(DATABASE_KINDS)('The feedback loop on %s', (kind) => {
  const perTest = gatewayPerTest(kind);
  const { gateway } = perTest;
  let upstream: FakeUpstream;
  let port: number;

  beforeEach(async () => {
    const authority = await TestCertificateAuthority.create();
    upstream = await FakeUpstream.start(await authority.issue(SENDGRID), [ADDRESS]);
    let sent = 0;
    upstream.handler = (_request, response) =>
      void response.writeHead(202, { 'x-message-id': `sg-${++sent}` }).end();
    await perTest.start(
      {
        UPSTREAM_CA_FILE: await authority.writeTemporaryPem(),
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        MAIL_DRIVER: 'sendgrid',
        SENDGRID_API_URL: `https://${SENDGRID}:${upstream.port}`,
        SENDGRID_API_KEY: 'SG.test-key',
        SENDGRID_WEBHOOK_PUBLIC_KEY: webhookPublicKey,
        FEEDBACK_HOST: '127.0.0.1',
        FEEDBACK_PORT: '0',
        FEEDBACK_PROCESS_INTERVAL_MS: '20',
      },
      { resolver: new StaticHostResolver().set(SENDGRID, [ADDRESS]) },
    );
    port = gateway.app.get(FeedbackIntakeLifecycle).port!;
  });

  afterEach(() => upstream.close());

  const stateOf = (message: GetMessageResponse) =>
    Object.fromEntries(message.recipients.map(({ address, state }) => [address, RecipientState[state]]));
  const recipientEvents = (message: GetMessageResponse) =>
    message.events
      .filter(({ recipient }) => recipient !== '')
      .map(({ type, recipient }) => [MessageEventType[type], recipient]);

  it('lands signed events on the right recipients, keeps a complaint over a late delivery, and never sends to that address again', async () => {
    const first = await gateway.client.sendMail(
      aSendMailRequest({ to: [{ address: ANN, name: '' }], cc: [{ address: BOB, name: '' }] }),
    );
    const delivered = await gateway.finalState(first.messageId);
    expect(delivered.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    // The driver told SendGrid the gateway's id, which SendGrid's events echo back.
    const [sendRequest] = upstream.requests;
    expect(JSON.parse(sendRequest.body).custom_args).toEqual({ mailgateway_id: first.messageId });

    const at = Math.floor(Date.now() / 1000);
    const event = (email: string, fields: Record<string, unknown>) => ({
      email,
      timestamp: at,
      sg_message_id: `${delivered.providerMessageId}.filterdrecv-1.0`,
      mailgateway_id: first.messageId,
      ...fields,
    });
    const complaint = signedEvents([
      event(ANN, { event: 'delivered', sg_event_id: 'ev-ann-delivered', response: '250 ok' }),
      event(BOB, { event: 'spamreport', sg_event_id: 'ev-bob-complaint' }),
    ]);
    expect(await post(port, complaint)).toBe(204);

    const landed = await waitFor('the complaint applied', async () => {
      const message = await gateway.client.getMessage({ messageId: first.messageId });
      return stateOf(message)[BOB] === 'RECIPIENT_STATE_COMPLAINED' ? message : undefined;
    });
    expect(stateOf(landed)).toEqual({
      [ANN]: 'RECIPIENT_STATE_DELIVERED',
      [BOB]: 'RECIPIENT_STATE_COMPLAINED',
    });
    expect(recipientEvents(landed).sort()).toEqual([
      ['MESSAGE_EVENT_TYPE_RECIPIENT_COMPLAINED', BOB],
      ['MESSAGE_EVENT_TYPE_RECIPIENT_DELIVERED', ANN],
    ]);

    // The same request again (SendGrid retries), then a "delivered" for Bob that arrives late but
    // says it happened later: neither changes anything.
    expect(await post(port, complaint)).toBe(204);
    expect(
      await post(
        port,
        signedEvents([event(BOB, { event: 'delivered', sg_event_id: 'ev-bob-late', timestamp: at + 60 })]),
      ),
    ).toBe(204);
    await waitFor('every notification processed', async () => {
      const [{ pending }]: { pending: number | string }[] = await gateway.app
        .get(DataSource)
        .query(`SELECT COUNT(*) AS pending FROM provider_notification WHERE state = 'pending'`);
      return Number(pending) === 0 ? true : undefined;
    });
    const settled = await gateway.client.getMessage({ messageId: first.messageId });
    expect(stateOf(settled)).toEqual(stateOf(landed));
    expect(recipientEvents(settled)).toEqual(recipientEvents(landed));

    // The complaint put Bob on the suppression list, for every source.
    const { suppressions } = await gateway.admin.checkSuppressions({
      source: TEST_SOURCE,
      addresses: [ANN, BOB],
    });
    expect(suppressions.map(({ address, reason, scope }) => [address, reason, scope])).toEqual([
      [BOB, SuppressionReason.SUPPRESSION_REASON_COMPLAINT, '*'],
    ]);
    expect(suppressions[0].origin).toContain('ev-bob-complaint');

    // The next message to both goes to Ann only; one to Bob alone is never sent.
    const second = await gateway.client.sendMail(
      aSendMailRequest({
        to: [
          { address: ANN, name: '' },
          { address: BOB, name: '' },
        ],
      }),
    );
    expect(second.suppressedRecipients).toEqual([BOB]);
    expect((await gateway.finalState(second.messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    const third = await gateway.client.sendMail(aSendMailRequest({ to: [{ address: BOB, name: '' }] }));
    expect(third.suppressedRecipients).toEqual([BOB]);
    const suppressed = await gateway.finalState(third.messageId);
    expect(suppressed.status).toBe(MessageStatus.MESSAGE_STATUS_SUPPRESSED);
    expect(stateOf(suppressed)).toEqual({ [BOB]: 'RECIPIENT_STATE_SUPPRESSED' });

    expect(upstream.requests.map(({ body }) => addresseesOf(body))).toEqual([[ANN], [ANN]]);
    expect(
      upstream.requests.slice(1).map(({ body }) => JSON.stringify(JSON.parse(body).personalizations)),
    ).not.toContain(expect.stringContaining(BOB));
  });
});
