import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import { MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  FakeUpstream,
  freePort,
  GatewayProcess,
  httpGet,
  provisionTestDatabase,
  sampleValue,
  TestCertificateAuthority,
  TestDatabase,
  TEST_API_KEY,
  testRedisUrl,
  uniqueRedisPrefix,
  waitFor,
} from '@mailgateway/testing';
import { OtlpReceiver, ReceivedSpan, SPAN_KIND } from './support/otlp-receiver';

const HOSTNAME = 'mail.upstream.test';
const UPSTREAM_ADDRESS = '127.0.0.2';
const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
// Content that must never reach a span: the subject, the body and the recipient.
const SUBJECT = 'Tracing canary subject 7f3a';
const BODY = 'Tracing canary body 91c2';
const RECIPIENT = 'tracing-canary-5d1e@example.org';

const statementOf = (span: ReceivedSpan) =>
  String(span.attributes['db.statement'] ?? span.attributes['db.query.text']);
const systemOf = (span: ReceivedSpan) => span.attributes['db.system'] ?? span.attributes['db.system.name'];

// The built gateway, as deployed: the pg and ioredis hooks only work in a real Node process.
describe('Tracing of a gateway process on PostgreSQL and Redis, exporting OTLP', () => {
  let receiver: OtlpReceiver;
  let database: TestDatabase;
  let upstream: FakeUpstream;
  let gateway: GatewayProcess;
  let client: MailGatewayClient;
  let messageId: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    database = await provisionTestDatabase('postgres');
    const authority = await TestCertificateAuthority.create();
    upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), [UPSTREAM_ADDRESS]);
    const port = await freePort();
    gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '50',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: uniqueRedisPrefix(),
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/v1/messages`,
      HTTP_DRIVER_AUTH_VALUE: 'Bearer test-token',
      UPSTREAM_CA_FILE: await authority.writeTemporaryPem(),
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_ADDRESSES: `${HOSTNAME}=${UPSTREAM_ADDRESS}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,service.namespace=mail',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    client = new MailGatewayClient({
      address: `127.0.0.1:${port}`,
      apiKey: TEST_API_KEY,
      metadata: { traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` },
    });
    ({ messageId } = await client.sendMail(
      aSendMailRequest({ subject: SUBJECT, textBody: BODY, to: [{ address: RECIPIENT, name: '' }] }),
    ));
    await waitFor('the message to be delivered', async () => {
      const message = await client.getMessage({ messageId });
      return message.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? true : undefined;
    });
    // The delivery's spans end last: the provider request, then the attempt recorded.
    await waitFor('the delivery attempt span to be exported', () =>
      receiver.spans.some((span) => span.name === 'delivery attempt') ? true : undefined,
    );
  });

  afterAll(async () => {
    client?.close();
    await gateway?.crash();
    await upstream?.close();
    await database?.drop();
    await receiver?.close();
  });

  const callSpan = () => {
    const span = receiver.spans.find((candidate) => candidate.name === 'mailgateway.v1.MailGateway/SendMail');
    if (!span) throw new Error(`no SendMail span among ${receiver.spans.map((s) => s.name).join(', ')}`);
    return span;
  };
  const deliverySpan = () => receiver.spans.find((span) => span.name === 'delivery attempt')!;

  it("makes the call a server span continuing the caller's traceparent", () => {
    const call = callSpan();
    expect(call).toMatchObject({
      traceId: CALLER_TRACE_ID,
      parentSpanId: CALLER_SPAN_ID,
      kind: SPAN_KIND.server,
    });
    expect(call.attributes).toMatchObject({
      'rpc.system': 'grpc',
      'rpc.method': 'SendMail',
      'rpc.grpc.status_code': 0,
    });
  });

  it("traces the outbox's PostgreSQL insert and the rate limit's Redis command inside the call", () => {
    const call = callSpan();
    const inCall = receiver.inTrace(CALLER_TRACE_ID).filter((span) => receiver.descendsFrom(span, call));
    const insert = inCall.find(
      (span) => systemOf(span) === 'postgresql' && /INSERT INTO "?outbox_message"?/.test(statementOf(span)),
    );
    expect(insert).toMatchObject({ kind: SPAN_KIND.client });
    // Placeholders only: the values (the mail itself) are never recorded.
    expect(statementOf(insert!)).toMatch(/\$1/);
    expect(Object.keys(insert!.attributes).filter((key) => key.includes('values'))).toEqual([]);

    const redis = inCall.find((span) => systemOf(span) === 'redis');
    expect(redis).toMatchObject({ kind: SPAN_KIND.client });
    // The script's key, never its arguments.
    expect(statementOf(redis!)).toMatch(/^EVALSHA \S*rate:\S+$/);
  });

  it("traces the delivery attempt in the message's trace, with the provider request and the outcome's recording", () => {
    const call = callSpan();
    const delivery = deliverySpan();
    expect(delivery).toMatchObject({ traceId: CALLER_TRACE_ID, parentSpanId: call.spanId });
    expect(delivery.attributes).toMatchObject({
      'mailgateway.message.id': messageId,
      'mailgateway.delivery.attempt': 1,
      'mailgateway.delivery.provider': 'http',
      'mailgateway.delivery.outcome': 'delivered',
    });

    const request = receiver.spans.find(
      (span) => span.kind === SPAN_KIND.client && span.attributes['http.request.method'] === 'POST',
    );
    expect(request).toMatchObject({ traceId: CALLER_TRACE_ID, parentSpanId: delivery.spanId });
    expect(request!.attributes['url.full']).toBe(`https://${HOSTNAME}:${upstream.port}/v1/messages`);
    // The provider is handed the request span's context.
    expect(upstream.requests[0].headers.traceparent).toBe(`00-${CALLER_TRACE_ID}-${request!.spanId}-01`);

    const recorded = receiver
      .inTrace(CALLER_TRACE_ID)
      .filter((span) => systemOf(span) === 'postgresql' && receiver.descendsFrom(span, delivery));
    expect(recorded.map(statementOf).some((statement) => /UPDATE outbox_message/.test(statement))).toBe(true);
  });

  it('puts OTEL_RESOURCE_ATTRIBUTES, the service name and the version on the resource', () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(callSpan().resource).toMatchObject({
      'deployment.environment': 'test',
      'service.namespace': 'mail',
      'service.name': 'mailgateway',
      'service.version': version,
    });
  });

  it('exports no message content', () => {
    const exported = receiver.bodies.join('\n');
    expect(receiver.spans.length).toBeGreaterThan(5);
    for (const canary of [SUBJECT, BODY, RECIPIENT]) expect(exported).not.toContain(canary);
  });

  it('reports its version and commit as mailgateway_build_info', async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    const commit =
      process.env.BUILD_COMMIT ||
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: __dirname }).toString().trim();
    const { body } = await httpGet(`${gateway.metricsUrl}/metrics`);
    expect(sampleValue(body, 'mailgateway_build_info', { version, commit })).toBe(1);
  });
});
