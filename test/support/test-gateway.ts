import { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MailGatewayClient } from '@mailgateway/client';
import { GatewayConfig, loadGatewayConfig } from '@mailgateway/config';
import { HOST_RESOLVER, HostResolver, MAIL_DRIVER, MailDriver } from '@mailgateway/delivery';
import { Observability, ObservabilityLifecycle, ObservabilityOverrides } from '@mailgateway/observability';
import { freePort, waitFor } from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import {
  closeGatewayApp,
  configureGatewayApp,
  createGatewayObservability,
  grpcServerOptions,
} from '../../apps/gateway/src/gateway-app';
import { GatewayModule } from '../../apps/gateway/src/gateway.module';

/** Settings that keep suites fast: short polls and retries. Tests override what they are about. */
export const FAST_DELIVERY_ENV = {
  DELIVERY_POLL_INTERVAL_MS: '20',
  RETRY_BASE_DELAY_MS: '20',
  RETRY_MAX_DELAY_MS: '200',
  LOG_LEVEL: 'error',
  // Any free port: suites run side by side.
  METRICS_PORT: '0',
};

export interface TestGateway {
  readonly app: INestMicroservice;
  readonly config: GatewayConfig;
  readonly client: MailGatewayClient;
  readonly observability: Observability;
  /** Where /metrics, /livez and /readyz answer, e.g. http://127.0.0.1:40123 */
  readonly metricsUrl: string;
  /** Rows in a table of the gateway's database. */
  count(table: 'outbox_message' | 'message_event'): Promise<number>;
  /** Resolves once `expected` messages are in a final state, checking the database (cheaper than polling RPCs). */
  waitForFinalStates(expected: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real gateway in this process, listening on a free port, called through a real gRPC client.
 * `driver` replaces the configured provider driver and `resolver` the DNS resolver, through DI;
 * `logDestination` and `spanExporter` capture log lines and spans.
 */
export async function startTestGateway(
  env: Record<string, string>,
  {
    driver,
    resolver,
    ...overrides
  }: { driver?: MailDriver; resolver?: HostResolver } & ObservabilityOverrides = {},
): Promise<TestGateway> {
  const port = await freePort();
  const config = loadGatewayConfig({
    ...FAST_DELIVERY_ENV,
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
  const client = new MailGatewayClient({ address: `127.0.0.1:${port}` });
  const dataSource = app.get(DataSource);
  return {
    app,
    config,
    client,
    observability,
    metricsUrl: `http://127.0.0.1:${app.get(ObservabilityLifecycle).metricsPort}`,
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
      client.close();
      await closeGatewayApp(app);
    },
  };
}
