import 'reflect-metadata';
// Before anything that loads pg or ioredis, so their tracing hooks are in place.
import './instrument-libraries';
import { Logger } from '@nestjs/common';
import { ConfigurationException, LoadedConfig } from '@mailgateway/config';
import { databaseConfig, dataSourceOptions, openDataSource, runMigrations } from '@mailgateway/database';
import { deliveryConfig } from '@mailgateway/delivery';
import { createGatewayLogger, observabilityConfig, PinoLoggerService } from '@mailgateway/observability';
import { closeGatewayApp, createGatewayApp, createGatewayObservability } from './gateway-app';
import { GATEWAY_SCHEMA, loadGatewayConfig } from './gateway-config';
import { gatewayConfig } from './gateway.settings';

const logger = new Logger('Gateway');

async function serve(config: LoadedConfig): Promise<void> {
  const observability = createGatewayObservability(config);
  Logger.overrideLogger(new PinoLoggerService(observability.logger));
  const app = await createGatewayApp(config, observability);
  await app.listen();
  const { grpc, shutdownTimeoutMs } = config.get(gatewayConfig);
  const database = config.get(databaseConfig);
  const where = database.type === 'sqlite' ? `sqlite ${database.path}` : 'postgres (DATABASE_URL)';
  logger.log(
    `mailgateway listening on ${grpc.host}:${grpc.port} (gRPC) — database: ${where}, driver: ${config.get(deliveryConfig).driver}`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: stopping (deadline ${shutdownTimeoutMs} ms)`);
    // gRPC drains without a deadline of its own; this one is final.
    setTimeout(() => {
      logger.error('Shutdown deadline passed; exiting now');
      process.exit(1);
    }, shutdownTimeoutMs).unref();
    await closeGatewayApp(app);
    logger.log('Stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

async function migrate(config: LoadedConfig): Promise<void> {
  Logger.overrideLogger(new PinoLoggerService(createGatewayLogger(config.get(observabilityConfig).logLevel)));
  const dataSource = await openDataSource(dataSourceOptions(config.get(databaseConfig), GATEWAY_SCHEMA));
  try {
    const applied = await runMigrations(dataSource);
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
    error instanceof ConfigurationException ? error.message : String((error as Error)?.stack ?? error);
  logger.error(`Start-up failed: ${message}`);
  process.exit(1);
});
