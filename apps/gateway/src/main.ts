import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigurationError, GatewayConfig, loadGatewayConfig } from '@mailgateway/config';
import { createGatewayLogger, PinoLoggerService } from '@mailgateway/observability';
import { openOutboxDataSource, outboxDataSourceOptions, runOutboxMigrations } from '@mailgateway/outbox';
import { closeGatewayApp, createGatewayApp, createGatewayObservability } from './gateway-app';

const logger = new Logger('Gateway');

async function serve(config: GatewayConfig): Promise<void> {
  const observability = createGatewayObservability(config);
  Logger.overrideLogger(new PinoLoggerService(observability.logger));
  const app = await createGatewayApp(config, observability);
  await app.listen();
  const database =
    config.database.type === 'sqlite' ? `sqlite ${config.database.path}` : 'postgres (DATABASE_URL)';
  logger.log(
    `mailgateway listening on ${config.grpc.host}:${config.grpc.port} (gRPC) — database: ${database}, driver: ${config.delivery.driver}`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: stopping (deadline ${config.shutdownTimeoutMs} ms)`);
    // gRPC drains without a deadline of its own; this one is final.
    setTimeout(() => {
      logger.error('Shutdown deadline passed; exiting now');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await closeGatewayApp(app);
    logger.log('Stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

async function migrate(config: GatewayConfig): Promise<void> {
  Logger.overrideLogger(new PinoLoggerService(createGatewayLogger(config.logLevel)));
  const dataSource = await openOutboxDataSource(outboxDataSourceOptions(config.database));
  try {
    const applied = await runOutboxMigrations(dataSource);
    logger.log(applied.length > 0 ? `Applied migrations: ${applied.join(', ')}` : 'Schema is up to date');
  } finally {
    await dataSource.destroy();
  }
}

async function main(): Promise<void> {
  // JSON lines from the first line on; the configured level applies once the settings are read.
  Logger.overrideLogger(new PinoLoggerService(createGatewayLogger('log')));
  const config = loadGatewayConfig();
  const command = process.argv[2] ?? 'serve';
  if (command === 'serve') return serve(config);
  if (command === 'migrate') return migrate(config);
  throw new Error(`unknown command "${command}" (expected "serve" or "migrate")`);
}

main().catch((error: unknown) => {
  // A configuration error names each bad variable and never echoes a secret.
  const message =
    error instanceof ConfigurationError ? error.message : String((error as Error)?.stack ?? error);
  logger.error(`Start-up failed: ${message}`);
  process.exit(1);
});
