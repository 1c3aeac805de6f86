import { status } from '@grpc/grpc-js';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { runMigrations } from '@mailgateway/database';
import { OutboxLeases } from '@mailgateway/outbox';
import {
  aMail,
  aSendMailRequest,
  checkHealth,
  DATABASE_KINDS,
  httpGet,
  listServicesByReflection,
  openTestDataSource,
  sampleValue,
  ScriptedDriver,
  TEST_API_KEY,
  TEST_SOURCE,
  waitFor,
} from '@mailgateway/testing';
import { MessageStatus } from '@mailgateway/contracts';
import { Client } from 'pg';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayPerTest, TestGateway } from './support/test-gateway';
import { WireCaller } from './support/wire-caller';

const address = (gateway: TestGateway) => gateway.address;
const scrape = async (gateway: TestGateway) => {
  const { status: code, body } = await httpGet(`${gateway.metricsUrl}/metrics`);
  expect(code).toBe(200);
  return body;
};

describe.each(DATABASE_KINDS)('Metrics on %s', (kind) => {
  const { gateway, start } = gatewayPerTest(kind);

  it('counts calls, accepted and delivered messages, attempts and retries as sends go through', async () => {
    const driver = new ScriptedDriver((message) =>
      message.attempt === 1 ? { kind: 'retry', reason: 'upstream 503' } : { kind: 'accepted' },
    );
    await start({}, { driver });
    const before = await scrape(gateway);
    expect(sampleValue(before, 'mailgateway_grpc_calls_total', { method: 'SendMail', code: 'OK' })).toBe(
      undefined,
    );

    const ids = [];
    for (let index = 0; index < 3; index++)
      ids.push((await gateway.client.sendMail(aSendMailRequest())).messageId);
    await gateway.client.sendMail(aSendMailRequest({}, 'replayed-key'));
    await gateway.client.sendMail(aSendMailRequest({}, 'replayed-key'));
    await expectGrpcError(gateway.client.sendMail(aSendMailRequest({ to: [] })), status.INVALID_ARGUMENT);
    const delivered = await waitFor('the messages to be delivered', async () => {
      const text = await scrape(gateway);
      const count = sampleValue(text, 'mailgateway_messages_delivered_total', {
        source: TEST_SOURCE,
        provider: 'scripted',
      });
      return count === 4 ? text : undefined;
    });

    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(delivered, name, labels);
    expect(value('mailgateway_grpc_calls_total', { method: 'SendMail', code: 'OK' })).toBe(5);
    expect(value('mailgateway_grpc_calls_total', { method: 'SendMail', code: 'INVALID_ARGUMENT' })).toBe(1);
    expect(value('mailgateway_messages_accepted_total', { source: TEST_SOURCE })).toBe(4);
    expect(value('mailgateway_accept_duration_seconds_count', { method: 'SendMail' })).toBe(5);
    expect(value('mailgateway_delivery_attempts_total', { provider: 'scripted', outcome: 'retrying' })).toBe(
      4,
    );
    expect(value('mailgateway_delivery_attempts_total', { provider: 'scripted', outcome: 'delivered' })).toBe(
      4,
    );
    expect(value('mailgateway_delivery_retries_total', { provider: 'scripted' })).toBe(4);
    expect(value('mailgateway_delivery_latency_seconds_count', { provider: 'scripted' })).toBe(4);
    expect(value('mailgateway_delivery_attempt_duration_seconds_count', { provider: 'scripted' })).toBe(8);
    expect(value('mailgateway_outbox_messages', { status: 'queued' })).toBe(0);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('counts an event stream once, OK for none and CANCELLED when its client leaves', async () => {
    await start({ DELIVERY_ENABLED: 'false' });
    await gateway.client.sendMail(aSendMailRequest());
    const wire = new WireCaller(address(gateway), TEST_API_KEY);
    try {
      const stream = wire.stream();
      stream.on('error', () => undefined);
      await new Promise((resolve) => stream.once('data', resolve));
      stream.cancel();
      const counted = await waitFor('the stream to be counted', async () => {
        const text = await scrape(gateway);
        return sampleValue(text, 'mailgateway_grpc_calls_total', {
          method: 'StreamEvents',
          code: 'CANCELLED',
        })
          ? text
          : undefined;
      });
      expect(
        sampleValue(counted, 'mailgateway_grpc_calls_total', { method: 'StreamEvents', code: 'CANCELLED' }),
      ).toBe(1);
      expect(
        sampleValue(counted, 'mailgateway_grpc_calls_total', { method: 'StreamEvents', code: 'OK' }),
      ).toBe(undefined);
    } finally {
      wire.close();
    }
  });

  it('reports outbox depth by status and the age of the oldest due message at scrape time', async () => {
    await start({ DELIVERY_ENABLED: 'false' });
    await gateway.client.sendMail(aSendMailRequest());
    await gateway.client.sendMail(aSendMailRequest());
    await gateway.client.sendMail(aSendMailRequest());
    await gateway.app.get(OutboxLeases).claimDue(1, 60_000);

    const text = await scrape(gateway);

    expect(sampleValue(text, 'mailgateway_outbox_messages', { status: 'queued' })).toBe(2);
    expect(sampleValue(text, 'mailgateway_outbox_messages', { status: 'sending' })).toBe(1);
    expect(sampleValue(text, 'mailgateway_outbox_messages', { status: 'retrying' })).toBe(0);
    expect(sampleValue(text, 'mailgateway_outbox_oldest_due_age_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('exports the upstream and throttling metrics other modules record', async () => {
    await start();
    const { metrics } = gateway.observability;
    metrics.recordUpstreamRequest('192.0.2.10', 'success');
    metrics.recordUpstreamRequest('192.0.2.11', 'connect_error');
    metrics.recordUpstreamFailover('192.0.2.11');
    metrics.recordUpstreamAddressHealth('192.0.2.11', false);
    metrics.recordThrottledCall('billing', 'source');

    const text = await scrape(gateway);

    expect(
      sampleValue(text, 'mailgateway_upstream_requests_total', {
        address: '192.0.2.11',
        outcome: 'connect_error',
      }),
    ).toBe(1);
    expect(sampleValue(text, 'mailgateway_upstream_failovers_total', { from_address: '192.0.2.11' })).toBe(1);
    expect(sampleValue(text, 'mailgateway_upstream_address_healthy', { address: '192.0.2.11' })).toBe(0);
    expect(
      sampleValue(text, 'mailgateway_throttled_calls_total', { source: 'billing', limit: 'source' }),
    ).toBe(1);
  });
});

describe('Health', () => {
  const { database, gateway, start } = gatewayPerTest('postgres');

  /** Runs `sql` over a connection of its own to `connectionString`. */
  const runSql = async (connectionString: string | undefined, sql: string) => {
    const client = new Client({ connectionString });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const onTestDatabase = (sql: string) => runSql(database.env.DATABASE_URL, sql);
  const onServer = (sql: string) => runSql(process.env.MAILGATEWAY_TEST_POSTGRES_URL, sql);
  const healthBecomes = (expected: string, service = '') =>
    waitFor(`health "${service}" to be ${expected}`, async () =>
      (await checkHealth(address(gateway), service)) === expected ? true : undefined,
    );

  it('serves grpc.health.v1 and reflection, and /livez and /readyz over HTTP', async () => {
    await start();

    expect(await checkHealth(address(gateway), '')).toBe('SERVING');
    expect(await checkHealth(address(gateway), 'mailgateway.v1.MailGateway')).toBe('SERVING');
    expect(await checkHealth(address(gateway), 'liveness')).toBe('SERVING');
    expect(await checkHealth(address(gateway), 'no.such.Service')).toBe('NOT_FOUND');
    expect(await listServicesByReflection(address(gateway))).toEqual(
      expect.arrayContaining(['mailgateway.v1.MailGateway', 'grpc.health.v1.Health']),
    );
    expect(await httpGet(`${gateway.metricsUrl}/livez`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await httpGet(`${gateway.metricsUrl}/readyz`)).toEqual({ status: 200, body: 'ok\n' });
    expect((await httpGet(`${gateway.metricsUrl}/nothing`)).status).toBe(404);
  });

  it('is NOT_SERVING while the schema has a pending migration, and SERVING again once it is applied', async () => {
    await start({ HEALTH_CHECK_INTERVAL_MS: '100' });
    await healthBecomes('SERVING');

    await onTestDatabase("DELETE FROM migrations WHERE name = 'AddMessageTraceparent1795240975003'");
    await onTestDatabase('ALTER TABLE outbox_message DROP COLUMN traceparent');
    await healthBecomes('NOT_SERVING');
    expect(await httpGet(`${gateway.metricsUrl}/readyz`)).toEqual({
      status: 503,
      body: 'not ready: database schema has pending migrations\n',
    });
    expect(await checkHealth(address(gateway), 'liveness')).toBe('SERVING');

    const dataSource = await openTestDataSource(database.env);
    await runMigrations(dataSource);
    await dataSource.destroy();
    await healthBecomes('SERVING');
  });

  it('is NOT_SERVING while the database refuses connections, and SERVING once it is back', async () => {
    await start({ HEALTH_CHECK_INTERVAL_MS: '100' });
    await healthBecomes('SERVING');
    const name = new URL(database.env.DATABASE_URL).pathname.slice(1);

    try {
      await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await onServer(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      await healthBecomes('NOT_SERVING');
      expect((await httpGet(`${gateway.metricsUrl}/readyz`)).body).toBe('not ready: database unreachable\n');
      // The scrape still answers; the outbox gauges are left out while the database is away.
      const text = await scrape(gateway);
      expect(sampleValue(text, 'mailgateway_outbox_messages', { status: 'queued' })).toBeUndefined();
    } finally {
      await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    await healthBecomes('SERVING');
  });

  it('reports not ready as soon as shutdown starts, while in-flight deliveries drain', async () => {
    await start({
      SANDBOX_LATENCY_MS: '3000',
      SHUTDOWN_TIMEOUT_MS: '3000',
    });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());
    await waitFor('the message to be sending', async () => {
      const message = await gateway.client.getMessage({ messageId });
      return message.status === MessageStatus.MESSAGE_STATUS_SENDING ? true : undefined;
    });
    expect(await checkHealth(address(gateway), '')).toBe('SERVING');

    const target = address(gateway);
    const readyz = `${gateway.metricsUrl}/readyz`;
    const closing = gateway.close();

    // The gRPC port stops taking calls at once; the HTTP probe port answers until the drain ends.
    expect(await httpGet(readyz)).toEqual({ status: 503, body: 'not ready: shutting down\n' });
    expect(await checkHealth(target, '')).not.toBe('SERVING');
    await closing;
  });
});

describe('Tracing', () => {
  const { gateway, start } = gatewayPerTest('sqlite');

  const callerTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpanId = '00f067aa0ba902b7';

  /** Sends a message as a caller whose call carries a traceparent of its own. */
  const sendWithCallerTraceparent = () =>
    gateway
      .connect(TEST_API_KEY, { metadata: { traceparent: `00-${callerTraceId}-${callerSpanId}-01` } })
      .send(aMail());

  /** The gRPC server spans, in the order the calls ended (the outbox's own spans left out). */
  const callSpans = (exporter: InMemorySpanExporter) =>
    exporter.getFinishedSpans().filter((span) => span.attributes['rpc.system'] === 'grpc');

  const claimTraceparent = async () => {
    const [claim] = await gateway.app.get(OutboxLeases).claimDue(1, 60_000);
    return claim.traceparent;
  };

  it("continues the caller's traceparent in a span per call and stores it with the message", async () => {
    const exporter = new InMemorySpanExporter();
    await start({ TRACING_ENABLED: 'true', DELIVERY_ENABLED: 'false' }, { spanExporter: exporter });
    await sendWithCallerTraceparent();

    const [span] = callSpans(exporter);
    expect(span.name).toBe('mailgateway.v1.MailGateway/SendMail');
    expect(span.spanContext().traceId).toBe(callerTraceId);
    expect(span.parentSpanContext?.spanId).toBe(callerSpanId);
    expect(span.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 0 });
    // The delivery continues the trace as a child of the gateway's span.
    expect(await claimTraceparent()).toBe(`00-${callerTraceId}-${span.spanContext().spanId}-01`);
  });

  it('starts a new trace for a call without traceparent, and marks failed calls', async () => {
    const exporter = new InMemorySpanExporter();
    await start({ TRACING_ENABLED: 'true', DELIVERY_ENABLED: 'false' }, { spanExporter: exporter });
    await gateway.client.sendMail(aSendMailRequest());
    await expectGrpcError(gateway.client.sendMail(aSendMailRequest({ to: [] })), status.INVALID_ARGUMENT);

    const [ok, failed] = callSpans(exporter);
    expect(ok.parentSpanContext).toBeUndefined();
    expect(await claimTraceparent()).toBe(`00-${ok.spanContext().traceId}-${ok.spanContext().spanId}-01`);
    expect(failed.attributes['rpc.grpc.status_code']).toBe(status.INVALID_ARGUMENT);
    expect(failed.status).toMatchObject({ code: 2, message: 'INVALID_ARGUMENT' });
  });

  it('is off unless configured: no trace context is stored', async () => {
    await start({ DELIVERY_ENABLED: 'false' });
    await sendWithCallerTraceparent();
    expect(gateway.observability.tracing.enabled).toBe(false);
    expect(await claimTraceparent()).toBeNull();
  });
});
