import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { GetMessageResponse, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  FakeUpstream,
  httpGet,
  RecordedRequest,
  sampleValue,
  StaticHostResolver,
  TestCertificateAuthority,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';
import { gatewayPerTest } from './support/test-gateway';

const HOSTNAME = 'mail.upstream.test';
const [REFUSING, BLACK_HOLE, HEALTHY] = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const ALL = [REFUSING, BLACK_HOLE, HEALTHY];

describe.each(DATABASE_KINDS)('Delivery to real HTTPS upstreams on %s', (kind) => {
  const perTest = gatewayPerTest(kind);
  const { gateway } = perTest;
  let authority: TestCertificateAuthority;
  let caFile: string;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
  });

  beforeEach(async () => {
    upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), ALL);
  });

  afterEach(async () => {
    await upstream.close();
  });

  const start = (env: Record<string, string>, spanExporter?: InMemorySpanExporter) =>
    perTest.start(
      {
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_CONNECT_TIMEOUT_MS: '300',
        UPSTREAM_COOLDOWN_MS: '500',
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/v1/messages`,
        HTTP_DRIVER_AUTH_VALUE: 'Bearer test-token',
        ...env,
      },
      { resolver: new StaticHostResolver().set(HOSTNAME, ALL), spanExporter },
    );

  const sendMany = async (count: number) => {
    const { results } = await gateway.client.sendMailBatch({
      items: Array.from({ length: count }, (_, index) => aSendMailRequest({ subject: `Message ${index}` })),
    });
    return results.map((result) => result.accepted!.messageId);
  };

  const idempotencyKey = (request: RecordedRequest) => String(request.headers['idempotency-key']);

  it('delivers every message through the healthy address while one refuses and one is black-holed', async () => {
    await upstream.refuse(REFUSING);
    await upstream.blackHole(BLACK_HOLE);
    await start({});

    const ids = await sendMany(200);
    await gateway.waitForFinalStates(ids.length);
    const messages = await Promise.all(ids.map((id) => gateway.finalState(id)));

    expect(messages.every((message) => message.status === MessageStatus.MESSAGE_STATUS_DELIVERED)).toBe(true);
    const attempts = messages.reduce((sum, message) => sum + message.attempts, 0);
    expect(attempts).toBe(200);
    expect(new Set(upstream.requests.map(idempotencyKey))).toEqual(new Set(ids));
    expect(upstream.requests.every((request) => request.address === HEALTHY)).toBe(true);
    expect(upstream.requests.every((request) => request.headers.authorization === 'Bearer test-token')).toBe(
      true,
    );
    const { body: metrics } = await httpGet(`${gateway.metricsUrl}/metrics`);
    expect(
      sampleValue(metrics, 'mailgateway_upstream_requests_total', { address: HEALTHY, outcome: 'success' }),
    ).toBe(200);
    expect(sampleValue(metrics, 'mailgateway_upstream_address_healthy', { address: REFUSING })).toBe(0);
    expect(
      sampleValue(metrics, 'mailgateway_upstream_failovers_total', { from_address: BLACK_HOLE }),
    ).toBeGreaterThan(0);
    console.log(
      `[upstream failover ${kind}] delivered=${messages.length} attempts/message=${attempts / messages.length} ` +
        `requests per address: ${ALL.map((address) => `${address}=${upstream.requestsTo(address).length}`).join(' ')}`,
    );
  });

  it('honours 429 with Retry-After, then delivers', async () => {
    const refused = new Set<string>();
    upstream.handler = (request, response) => {
      if (refused.has(idempotencyKey(request))) return void response.writeHead(202).end('{"id":"ok"}');
      refused.add(idempotencyKey(request));
      response.writeHead(429, { 'retry-after': '1' }).end('{"error":"slow down"}');
    };
    await start({ RETRY_BASE_DELAY_MS: '1', RETRY_MAX_DELAY_MS: '5000' });

    const [messageId] = await sendMany(1);
    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(message.attempts).toBe(2);
    const [first, second] = upstream.requests.filter((request) => idempotencyKey(request) === messageId);
    expect(first && second).toBeTruthy();
    // The 429 came after the first attempt started, and the wait runs from the 429.
    const [firstAttempt, secondAttempt] = eventsOf(
      message,
      MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
    );
    expect(millis(secondAttempt) - millis(firstAttempt)).toBeGreaterThanOrEqual(1000);
  });

  it('attempts a permanent 4xx once and fails the message', async () => {
    upstream.handler = (_request, response) => void response.writeHead(422).end('{"error":"unknown sender"}');
    await start({});

    const [messageId] = await sendMany(1);
    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_FAILED);
    expect(message.attempts).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });

  it('records an unknown outcome when the connection drops after sending, then retries', async () => {
    const dropped = new Set<string>();
    upstream.handler = (request, response) => {
      const key = request.body; // SendGrid has no idempotency key: tell messages apart by body
      if (dropped.has(key)) return void response.writeHead(202, { 'x-message-id': 'sg-1' }).end();
      dropped.add(key);
      response.socket?.destroy();
    };
    await start({
      MAIL_DRIVER: 'sendgrid',
      SENDGRID_API_URL: `https://${HOSTNAME}:${upstream.port}`,
      SENDGRID_API_KEY: 'SG.test-key',
    });

    const [messageId] = await sendMany(1);
    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(message.attempts).toBe(2);
    expect(eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_OUTCOME_UNKNOWN)).toHaveLength(1);
    expect(upstream.requests).toHaveLength(2);
  });

  it('refuses an upstream whose certificate is for another host: the message waits, nothing is sent', async () => {
    await upstream.close();
    upstream = await FakeUpstream.start(await authority.issue('impostor.example'), ALL);
    await start({ RETRY_BASE_DELAY_MS: '1000', RETRY_MAX_DELAY_MS: '5000' });

    const [messageId] = await sendMany(1);
    const message = await waitFor('a retry to be scheduled', async () => {
      const current = await gateway.client.getMessage({ messageId });
      return current.status === MessageStatus.MESSAGE_STATUS_RETRYING ? current : undefined;
    });

    expect(eventsOf(message, MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED)[0].detail).toMatch(
      /altnames|certificate/i,
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it("carries the caller's trace to the upstream request, in the delivery attempt's span", async () => {
    const exporter = new InMemorySpanExporter();
    await start({ TRACING_ENABLED: 'true' }, exporter);
    const traced = gateway.connect(TEST_API_KEY, {
      metadata: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    const { messageId } = await traced.sendMail(aSendMailRequest());

    await gateway.finalState(messageId);

    const spans = exporter.getFinishedSpans();
    const attempt = spans.find((span) => span.name === 'delivery attempt');
    const post = spans.find((span) => span.kind === SpanKind.CLIENT && span.name === 'POST');
    expect(attempt?.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(post?.parentSpanContext?.spanId).toBe(attempt?.spanContext().spanId);
    const [request] = upstream.requests;
    expect(request.headers.traceparent).toBe(
      `00-4bf92f3577b34da6a3ce929d0e0e4736-${post?.spanContext().spanId}-01`,
    );
  });

  it('sends 1,000 messages through Flowmailer on one OAuth2 token', async () => {
    // The handler only answers (an exception thrown here would be lost, or become a 500 that the
    // gateway retries); what it was sent is checked after the run, from upstream.requests.
    upstream.handler = (request, response) => {
      if (request.path === '/oauth/token') {
        return void response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ access_token: 'token-1', token_type: 'bearer', expires_in: 3600 }));
      }
      response
        .writeHead(201, { location: `https://${HOSTNAME}/acme/messages/${upstream.requests.length}` })
        .end();
    };
    await start({
      MAIL_DRIVER: 'flowmailer',
      FLOWMAILER_API_URL: `https://${HOSTNAME}:${upstream.port}`,
      FLOWMAILER_TOKEN_URL: `https://${HOSTNAME}:${upstream.port}/oauth/token`,
      FLOWMAILER_ACCOUNT_ID: 'acme',
      FLOWMAILER_CLIENT_ID: 'client',
      FLOWMAILER_CLIENT_SECRET: 'secret',
      // Delivery alone: the event poller (its own token, its own requests) is tested on its own.
      FLOWMAILER_EVENTS_POLL_MS: '0',
      DELIVERY_CONCURRENCY: '20',
    });

    const ids = [...(await sendMany(500)), ...(await sendMany(500))];
    await gateway.waitForFinalStates(ids.length);
    const messages = await Promise.all(ids.map((id) => gateway.finalState(id)));

    const submissions = upstream.requests.filter((request) => request.path === '/acme/messages/submit');
    const tokenRequests = upstream.requests.filter((request) => request.path === '/oauth/token');
    console.log(
      `[flowmailer ${kind}] delivered=${messages.length} submissions=${submissions.length} token requests=${tokenRequests.length}`,
    );
    expect(messages.every((message) => message.status === MessageStatus.MESSAGE_STATUS_DELIVERED)).toBe(true);
    expect(submissions).toHaveLength(1000);
    expect(tokenRequests).toHaveLength(1);
    expect(new URLSearchParams(tokenRequests[0].body).get('grant_type')).toBe('client_credentials');
    // Every request but the token request carried the token; nothing went anywhere else.
    expect(upstream.requests).toHaveLength(1001);
    expect(
      submissions
        .filter((request) => request.headers.authorization !== 'Bearer token-1')
        .map((request) => request.headers.authorization),
    ).toEqual([]);
  });
});

function eventsOf(message: GetMessageResponse, type: MessageEventType) {
  return message.events.filter((event) => event.type === type);
}

function millis(event: { occurredAt?: { seconds: number; nanos: number } }) {
  return event.occurredAt!.seconds * 1000 + event.occurredAt!.nanos / 1e6;
}
