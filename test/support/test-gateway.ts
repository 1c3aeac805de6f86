import type { ChannelCredentials } from '@grpc/grpc-js';
import { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GatewayClientOptions, MailGatewayAdminClient, MailGatewayClient } from '@mailgateway/client';
import { GatewayConfig, loadGatewayConfig } from '@mailgateway/config';
import { SourcePolicy } from '@mailgateway/contracts';
import { MAIL_DRIVER, MailDriver } from '@mailgateway/delivery';
import { freePort, TEST_API_KEY, TEST_AUTH_ENV } from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { configureGatewayApp, grpcServerOptions } from '../../apps/gateway/src/gateway-app';
import { GatewayModule } from '../../apps/gateway/src/gateway.module';

/** Settings that keep suites fast: short polls and retries. Tests override what they are about. */
export const FAST_DELIVERY_ENV = {
  DELIVERY_POLL_INTERVAL_MS: '20',
  RETRY_BASE_DELAY_MS: '20',
  RETRY_MAX_DELAY_MS: '200',
  LOG_LEVEL: 'error',
};

export interface TestGateway {
  readonly app: INestMicroservice;
  readonly config: GatewayConfig;
  readonly address: string;
  /** Calls as the bootstrap source (every role). */
  readonly client: MailGatewayClient;
  readonly admin: MailGatewayAdminClient;
  /** A client of the mail service with this key (or none); closed with the gateway. */
  connect(apiKey?: string, options?: Partial<GatewayClientOptions>): MailGatewayClient;
  /** Creates a source through the admin RPCs and returns a key for it. */
  addSource(name: string, roles: string[], policy?: Partial<SourcePolicy>): Promise<string>;
  /** Rows in a table of the gateway's database. */
  count(table: 'outbox_message' | 'message_event' | 'api_key' | 'api_source'): Promise<number>;
  close(): Promise<void>;
}

/**
 * The real gateway in this process, listening on a free port, called through a real gRPC client
 * with the test admin key. `driver` replaces the configured provider driver through DI;
 * `credentials` are the clients' (for a TLS listener).
 */
export async function startTestGateway(
  env: Record<string, string>,
  { driver, credentials }: { driver?: MailDriver; credentials?: ChannelCredentials } = {},
): Promise<TestGateway> {
  const port = await freePort();
  const config = loadGatewayConfig({
    ...FAST_DELIVERY_ENV,
    ...TEST_AUTH_ENV,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(port),
    ...env,
  });
  let builder = Test.createTestingModule({ imports: [GatewayModule.forRoot(config)] });
  if (driver) builder = builder.overrideProvider(MAIL_DRIVER).useValue(driver);
  const moduleRef = await builder.compile();
  const app = configureGatewayApp(moduleRef.createNestMicroservice(grpcServerOptions(config)));
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
    close: async () => {
      for (const open of clients) open.close();
      await app.close();
    },
  };
}
