import { MailGatewayClient } from '@mailgateway/client';
import { GetMessageResponse, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  freePort,
  GatewayProcess,
  httpGet,
  provisionTestDatabase,
  sampleValue,
  TestCertificateAuthority,
  TestDatabase,
  TestSmtpServer,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';
import { simpleParser } from 'mailparser';

const HOSTNAME = 'relay.test';
const [REFUSING, BLACK_HOLE, GREETING_421, SERVING, SECOND] = [2, 3, 4, 5, 6].map(
  (last) => `127.0.0.${last}`,
);
const ALL = [REFUSING, BLACK_HOLE, GREETING_421, SERVING, SECOND];
const CREDENTIALS = { username: 'gateway@relay.test', password: 'smtp-password-7c1e' };
const SUBJECT = 'SMTP canary subject 3b9d';
const FINAL_STATES = new Set<MessageStatus>([
  MessageStatus.MESSAGE_STATUS_DELIVERED,
  MessageStatus.MESSAGE_STATUS_FAILED,
  MessageStatus.MESSAGE_STATUS_EXPIRED,
]);

// The built gateway as deployed, called over gRPC, delivering to a real SMTP server on 127.0.0.2-6.
describe.each(DATABASE_KINDS)('Delivery through an SMTP relay, a gateway process on %s', (kind) => {
  let authority: TestCertificateAuthority;
  let caFile: string;
  let relay: TestSmtpServer;
  let database: TestDatabase;
  let gateway: GatewayProcess | undefined;
  let client: MailGatewayClient | undefined;

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
  });

  beforeEach(async () => {
    database = await provisionTestDatabase(kind);
    relay = await TestSmtpServer.start({
      certificate: await authority.issue(HOSTNAME),
      addresses: ALL,
      credentials: CREDENTIALS,
    });
    await relay.refuse(REFUSING);
    await relay.blackHole(BLACK_HOLE);
    await relay.greetWith421(GREETING_421);
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    await gateway?.crash();
    gateway = undefined;
    await relay.close();
    await database.drop();
  });

  const start = async (addresses: string[], env: Record<string, string> = {}) => {
    const port = await freePort();
    gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
      RETRY_BASE_DELAY_MS: '20',
      RETRY_MAX_DELAY_MS: '200',
      MAIL_DRIVER: 'smtp',
      SMTP_URL: `smtp://${HOSTNAME}:${relay.port}`,
      SMTP_USERNAME: CREDENTIALS.username,
      SMTP_PASSWORD: CREDENTIALS.password,
      SMTP_CONNECT_TIMEOUT_MS: '300',
      SMTP_GREETING_TIMEOUT_MS: '300',
      UPSTREAM_ADDRESSES: `${HOSTNAME}=${addresses.join(',')}`,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_CA_FILE: caFile,
      UPSTREAM_COOLDOWN_MS: '30000',
      UPSTREAM_MAX_COOLDOWN_MS: '30000',
      ...env,
    });
    client = new MailGatewayClient({ address: `127.0.0.1:${port}`, apiKey: TEST_API_KEY });
    return client;
  };

  const finalState = (messageId: string) =>
    waitFor(
      `${messageId} to reach a final state`,
      async () => {
        const message = await client!.getMessage({ messageId });
        return FINAL_STATES.has(message.status) ? message : undefined;
      },
      { timeoutMs: 30_000 },
    );

  const eventsOf = (message: GetMessageResponse, type: MessageEventType) =>
    message.events.filter((event) => event.type === type);

  it('delivers every message through the healthy address while the others refuse, swallow or greet with 421', async () => {
    const gatewayClient = await start([REFUSING, BLACK_HOLE, GREETING_421, SERVING], {
      UPSTREAM_MAX_CONNECTIONS: '4',
    });

    const { results } = await gatewayClient.sendMailBatch({
      items: Array.from({ length: 40 }, (_, index) =>
        aSendMailRequest({
          subject: `${SUBJECT} ${index}`,
          bcc: [{ address: 'audit@example.com', name: 'Audit' }],
        }),
      ),
    });
    const ids = results.map((result) => result.accepted!.messageId);
    const messages = await Promise.all(ids.map(finalState));

    expect(messages.every((message) => message.status === MessageStatus.MESSAGE_STATUS_DELIVERED)).toBe(true);
    expect(messages.reduce((sum, message) => sum + message.attempts, 0)).toBe(40);
    expect(relay.messages).toHaveLength(40);
    expect(
      relay.messages.every((message) => message.address === SERVING && message.user === CREDENTIALS.username),
    ).toBe(true);
    // Each message went out once, under the id the relay gave it.
    const queueIds = relay.messages.map((message) =>
      (message.reply as { text: string }).text.replace('Ok: queued as ', ''),
    );
    expect(new Set(messages.map((message) => message.providerMessageId))).toEqual(new Set(queueIds));
    expect(relay.maxOpenConnections).toBeLessThanOrEqual(4);
    expect(relay.connectionsTo(SERVING)).toBeLessThanOrEqual(4);
    // At most one failed connection per pooled connection, then the bad addresses cooled down.
    expect(relay.connectionsTo(BLACK_HOLE)).toBeLessThanOrEqual(4);
    expect(relay.connectionsTo(GREETING_421)).toBeLessThanOrEqual(4);

    const sample = relay.messages[0];
    expect(sample.rcptTo).toEqual(['ada@example.org', 'audit@example.com']);
    const parsed = await simpleParser(sample.raw);
    expect(parsed.subject).toMatch(new RegExp(`^${SUBJECT} \\d+$`));
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(sample.raw.toString('latin1')).not.toContain('audit@example.com');

    const { body: metrics } = await httpGet(`${gateway!.metricsUrl}/metrics`);
    const failovers = [REFUSING, BLACK_HOLE, GREETING_421].map(
      (address) =>
        sampleValue(metrics, 'mailgateway_upstream_failovers_total', { from_address: address }) ?? 0,
    );
    expect(failovers.every((count) => count > 0)).toBe(true);
    expect(sampleValue(metrics, 'mailgateway_upstream_address_healthy', { address: BLACK_HOLE })).toBe(0);
    expect(gateway!.logs).not.toContain(CREDENTIALS.password);
    expect(gateway!.logs).not.toContain(SUBJECT);
    console.log(
      `[smtp failover ${kind}] 40 messages delivered on ${relay.connectionsTo(SERVING)} connections to ${SERVING}; ` +
        `connections tried: ${[BLACK_HOLE, GREETING_421].map((address) => `${address}=${relay.connectionsTo(address)}`).join(' ')}; ` +
        `failovers counted: ${[REFUSING, BLACK_HOLE, GREETING_421].map((address, index) => `${address}=${failovers[index]}`).join(' ')}`,
    );
  });

  it('retries a 451 after the wait the relay asks for, then delivers', async () => {
    const refusedOnce = new Set<string>();
    relay.onMessage = ({ raw }) => {
      const subject = /^Subject: (.*)$/m.exec(raw.toString('utf8'))?.[1] ?? '';
      if (refusedOnce.has(subject)) return { code: 250, text: 'Ok: queued as 4FX2K6' };
      refusedOnce.add(subject);
      return { code: 451, text: 'Greylisted, try again in 1 seconds' };
    };
    const gatewayClient = await start([SERVING], { RETRY_MAX_DELAY_MS: '5000' });

    const { messageId } = await gatewayClient.sendMail(aSendMailRequest({ subject: 'Greylisted once' }));
    const message = await finalState(messageId);

    expect(message).toMatchObject({
      status: MessageStatus.MESSAGE_STATUS_DELIVERED,
      attempts: 2,
      providerMessageId: '4FX2K6',
    });
    const [retry] = eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED);
    expect(retry.detail).toMatch(/^DATA: 451 4\.3\.0 Greylisted, try again in 1 seconds; retry at /);
    const [first, second] = eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED);
    expect(millis(second) - millis(first)).toBeGreaterThanOrEqual(1000);
  });

  it('records an unknown outcome when the relay falls silent after the final dot, and does not resend at once', async () => {
    let answered = 0;
    relay.onMessage = () => (answered++ === 0 ? 'hang' : { code: 250, text: 'Ok: queued as SECONDTRY' });
    const gatewayClient = await start([SERVING, SECOND], { SMTP_SOCKET_TIMEOUT_MS: '500' });

    const { messageId } = await gatewayClient.sendMail(aSendMailRequest());
    const message = await finalState(messageId);

    expect(message).toMatchObject({ status: MessageStatus.MESSAGE_STATUS_DELIVERED, attempts: 2 });
    expect(eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_OUTCOME_UNKNOWN)).toHaveLength(1);
    // One copy per attempt: the silent address kept the first, the second attempt sent the other.
    expect(relay.messages).toHaveLength(2);
  });

  it('delivers to the recipients the relay takes when it refuses one', async () => {
    relay.refuseRecipient('nobody@example.org');
    const gatewayClient = await start([SERVING]);

    const { messageId } = await gatewayClient.sendMail(
      aSendMailRequest({ cc: [{ address: 'nobody@example.org', name: 'Nobody' }] }),
    );
    const message = await finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_REFUSED)).toEqual([
      expect.objectContaining({
        recipient: 'nobody@example.org',
        provider: 'smtp',
        detail: 'refused by smtp: 550 5.1.1 <nobody@example.org>: No such user here',
      }),
    ]);
    expect(relay.messages.map((received) => received.rcptTo)).toEqual([['ada@example.org']]);
    // The header still shows who the sender addressed.
    expect((await simpleParser(relay.messages[0].raw)).cc).toMatchObject({
      value: [{ address: 'nobody@example.org' }],
    });
  });

  it('fails a message whose every recipient the relay refuses for good, after one attempt', async () => {
    relay.refuseRecipient('ada@example.org');
    const gatewayClient = await start([SERVING]);

    const { messageId } = await gatewayClient.sendMail(aSendMailRequest());
    const message = await finalState(messageId);

    expect(message).toMatchObject({ status: MessageStatus.MESSAGE_STATUS_FAILED, attempts: 1 });
    expect(message.events.at(-1)?.detail).toBe(
      'refused by smtp: every recipient refused: 550 5.1.1 <ada@example.org>: No such user here',
    );
  });

  it('keeps a message waiting, naming the settings to check, when the relay refuses the credentials', async () => {
    // One attempt allowed: had the refused login counted, the message would have failed.
    const gatewayClient = await start([SERVING], {
      SMTP_PASSWORD: 'not-the-password',
      DELIVERY_MAX_ATTEMPTS: '1',
      RETRY_BASE_DELAY_MS: '1000',
      RETRY_MAX_DELAY_MS: '5000',
    });

    const { messageId } = await gatewayClient.sendMail(aSendMailRequest());
    const message = await waitFor('a retry to be scheduled', async () => {
      const current = await gatewayClient.getMessage({ messageId });
      return current.status === MessageStatus.MESSAGE_STATUS_RETRYING ? current : undefined;
    });

    expect(eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED)[0].detail).toMatch(
      /535 5\.7\.8 .*\(check SMTP_USERNAME\/SMTP_PASSWORD\); retry at .* \(not counted as an attempt\)$/,
    );
    expect(relay.messages).toHaveLength(0);
    expect(gateway!.logs).not.toContain('not-the-password');
  });
});

function millis(event: { occurredAt?: { seconds: number; nanos: number } }): number {
  return event.occurredAt!.seconds * 1000 + event.occurredAt!.nanos / 1e6;
}
