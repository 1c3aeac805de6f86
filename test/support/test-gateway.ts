import type { ChannelCredentials } from '@grpc/grpc-js';
import { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GatewayClientOptions, MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { LoadedConfig } from '@mailgateway/config';
import {
  GetMessageResponse,
  MessageStatus,
  SourcePolicy,
  SuppressedRecipients,
} from '@mailgateway/contracts';
import { HOST_RESOLVER, HostResolver, MAIL_DRIVER, MailDriver } from '@mailgateway/delivery';
import { Observability, ObservabilityLifecycle, ObservabilityOverrides } from '@mailgateway/observability';
import {
  DatabaseKind,
  freePort,
  provisionTestDatabase,
  TEST_API_KEY,
  TEST_AUTH_ENV,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
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
  /** Polls GetMessage until the message is final (delivered, failed, expired, cancelled, suppressed), and returns it. */
  finalState(messageId: string, timeoutMs?: number): Promise<GetMessageResponse>;
  /** Closes the clients and the app; a second call waits for the first. */
  close(): Promise<void>;
}

export type TestGatewayOptions = {
  driver?: MailDriver;
  resolver?: HostResolver;
  credentials?: ChannelCredentials;
} & ObservabilityOverrides;

const FINAL_STATES = new Set<MessageStatus>([
  MessageStatus.MESSAGE_STATUS_DELIVERED,
  MessageStatus.MESSAGE_STATUS_FAILED,
  MessageStatus.MESSAGE_STATUS_EXPIRED,
  MessageStatus.MESSAGE_STATUS_CANCELLED,
  MessageStatus.MESSAGE_STATUS_SUPPRESSED,
]);

/**
 * The real gateway in this process, listening on a free port, called through a real gRPC client
 * with the test admin key. `driver` replaces the configured provider driver and `resolver` the DNS
 * resolver, through DI; `credentials` are the clients' (for a TLS listener); `logDestination` and
 * `spanExporter` capture log lines and spans.
 */
export async function startTestGateway(
  env: Record<string, string>,
  { driver, resolver, credentials, ...overrides }: TestGatewayOptions = {},
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
  let closing: Promise<void> | undefined;
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
          policy: {
            allowedFromDomains: [],
            maxRecipients: 0,
            rateLimitMessages: 0,
            drivers: [],
            suppressedRecipients: SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED,
            ...policy,
          },
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
            "SELECT COUNT(*) AS count FROM outbox_message WHERE status NOT IN ('scheduled', 'queued', 'sending', 'retrying')",
          );
          return Number(count) >= expected ? true : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    },
    finalState: (messageId, timeoutMs = 20_000) =>
      waitFor(
        `${messageId} to reach a final state`,
        async () => {
          const message = await client.getMessage({ messageId });
          return FINAL_STATES.has(message.status) ? message : undefined;
        },
        { timeoutMs },
      ),
    close: () =>
      (closing ??= (async () => {
        for (const open of clients) open.close();
        await closeGatewayApp(app);
      })()),
  };
}

/** An object that passes every property on to `current()`: what a hook creates, named before it runs. */
function standIn<T extends object>(current: () => T): T {
  return new Proxy({} as T, { get: (_target, property) => Reflect.get(current(), property) });
}

/**
 * Hooks for the enclosing describe block: each test gets a new database of `kind`; after it, the
 * gateway it started with `start` (on that database, `env` on top) is closed and the database
 * dropped. `database` and `gateway` stand for the current test's.
 */
export function gatewayPerTest(kind: DatabaseKind): {
  readonly database: TestDatabase;
  readonly gateway: TestGateway;
  start(env?: Record<string, string>, options?: TestGatewayOptions): Promise<TestGateway>;
} {
  let database: TestDatabase | undefined;
  let gateway: TestGateway | undefined;
  beforeEach(async () => {
    database = await provisionTestDatabase(kind);
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await database?.drop();
    database = undefined;
  });
  return {
    database: standIn(() => database ?? unavailable('no database: only a test has one')),
    gateway: standIn(() => gateway ?? unavailable('no gateway: the test has not started one')),
    start: async (env = {}, options = {}) => {
      if (!database) unavailable('no database: only a test has one');
      if (gateway) unavailable('this test has started its gateway already');
      gateway = await startTestGateway({ ...database.env, ...env }, options);
      return gateway;
    },
  };
}

/**
 * Hooks for the enclosing describe block: before its tests a new database of `kind` and one gateway
 * on it (`env` on top of the database's); after them, the gateway closed and the database dropped.
 * Returns a stand-in for that gateway, for the tests.
 */
export function gatewayForAllTests(
  kind: DatabaseKind,
  env: Record<string, string> = {},
  options: TestGatewayOptions = {},
): TestGateway {
  let database: TestDatabase | undefined;
  let gateway: TestGateway | undefined;
  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
    gateway = await startTestGateway({ ...database.env, ...env }, options);
  });
  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });
  return standIn(
    () => gateway ?? unavailable('no gateway: it starts before the tests of its describe block'),
  );
}

function unavailable(reason: string): never {
  throw new Error(reason);
}
