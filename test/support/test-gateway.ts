import type { ChannelCredentials } from '@grpc/grpc-js';
import { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GatewayClientOptions, MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { LoadedConfig } from '@mailgateway/config';
import { SourcePolicy } from '@mailgateway/contracts';
import { HOST_RESOLVER, HostResolver, MAIL_DRIVER, MailDriver } from '@mailgateway/delivery';
import { Observability, ObservabilityLifecycle, ObservabilityOverrides } from '@mailgateway/observability';
import { freePort, TEST_API_KEY, TEST_AUTH_ENV, waitFor } from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import {
  closeGatewayApp,
  configureGatewayApp,
  createGatewayObservability,
  GatewayModule,
  grpcServerOptions,
  loadGatewayConfig,
} from '@mailgateway/gateway';

/** Settings that keep suites fast: short polls and retries. Tests override what they are about. */
export const FAST_DELIVERY_ENV = {
  DELIVERY_POLL_INTERVAL_MS: '20',
  RETRY_BASE_DELAY_MS: '20',
  RETRY_MAX_DELAY_MS: '200',
  LOG_LEVEL: 'error',
  METRICS_PORT: '0',
};

export interface TestGateway {
  readonly app: INestMicroservice;
  readonly config: LoadedConfig;
  readonly address: string;
  /** Calls as the bootstrap source (every role). */
  readonly client: MailGatewayClient;
  readonly admin: MailGatewayAdminClient;
  readonly observability: Observability;
  /** Where /metrics, /livez and /readyz answer, e.g. http://127.0.0.1:40123 */
  readonly metricsUrl: string;
  /** A client of the mail service with this key (or none); closed with the gateway. */
  connect(apiKey?: string, options?: Partial<GatewayClientOptions>): MailGatewayClient;
  /** Creates a source through the admin RPCs and returns a key for it. */
  addSource(name: string, roles: string[], policy?: Partial<SourcePolicy>): Promise<string>;
  /** Rows in a table of the gateway's database. */
  count(table: 'outbox_message' | 'message_event' | 'api_key' | 'api_source'): Promise<number>;
  /** Resolves once `expected` messages are in a final state, checking the database (cheaper than polling RPCs). */
  waitForFinalStates(expected: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real gateway in this process, listening on a free port, called through a real gRPC client
 * with the test admin key. `driver` replaces the configured provider driver and `resolver` the DNS
 * resolver, through DI; `credentials` are the clients' (for a TLS listener); `logDestination` and
 * `spanExporter` capture log lines and spans.
 */
export async function startTestGateway(
  env: Record<string, string>,
  {
    driver,
    resolver,
    credentials,
    ...overrides
  }: {
    driver?: MailDriver;
    resolver?: HostResolver;
    credentials?: ChannelCredentials;
  } & ObservabilityOverrides = {},
): Promise<TestGateway> {
  const port = await freePort();
  const config = loadGatewayConfig({
    ...FAST_DELIVERY_ENV,
    ...TEST_AUTH_ENV,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(port),
    ...env,
  });
  const observability = createGatewayObservability(config, overrides);
  let builder = Test.createTestingModule({ imports: [GatewayModule.forRoot(config, observability)] });
  if (driver) builder = builder.overrideProvider(MAIL_DRIVER).useValue(driver);
  if (resolver) builder = builder.overrideProvider(HOST_RESOLVER).useValue(resolver);
  const moduleRef = await builder.compile();
  const app = configureGatewayApp(moduleRef.createNestMicroservice(grpcServerOptions(config, observability)));
  await app.listen();
  const address = `127.0.0.1:${port}`;
  const clients: { close(): void }[] = [];
  const connect = (apiKey?: string, options: Partial<GatewayClientOptions> = {}) => {
    const client = new MailGatewayClient({ address, apiKey, credentials, ...options });
    clients.push(client);
    return client;
  };
  const client = connect(TEST_API_KEY);
  const admin = new MailGatewayAdminClient({ address, apiKey: TEST_API_KEY, credentials });
  clients.push(admin);
  const dataSource = app.get(DataSource);
  return {
    app,
    config,
    address,
    client,
    admin,
    observability,
    metricsUrl: `http://127.0.0.1:${app.get(ObservabilityLifecycle).metricsPort}`,
    connect,
    addSource: async (name, roles, policy = {}) => {
      await admin.createSource({
        source: {
          name,
          roles,
          policy: { allowedFromDomains: [], maxRecipients: 0, rateLimitMessages: 0, ...policy },
          certificateIdentity: '',
          createdAt: undefined,
          updatedAt: undefined,
        },
      });
      return (await admin.createApiKey({ source: name, expiresInSeconds: 0 })).key;
    },
    count: async (table) => {
      const [{ count }] = await dataSource.query(`SELECT COUNT(*) AS count FROM ${table}`);
      return Number(count);
    },
    waitForFinalStates: async (expected, timeoutMs = 60_000) => {
      await waitFor(
        `${expected} messages in a final state`,
        async () => {
          const [{ count }] = await dataSource.query(
            "SELECT COUNT(*) AS count FROM outbox_message WHERE status NOT IN ('queued', 'sending', 'retrying')",
          );
          return Number(count) >= expected ? true : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    },
    close: async () => {
      for (const open of clients) open.close();
      await closeGatewayApp(app);
    },
  };
}
