import { readFileSync } from 'node:fs';
import { INestMicroservice, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GrpcOptions, Transport } from '@nestjs/microservices';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { GatewayConfig } from '@mailgateway/config';
import {
  MAIL_GATEWAY_ADMIN_PROTO_PATH,
  MAIL_GATEWAY_PACKAGE,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
} from '@mailgateway/contracts';
import {
  CallTelemetry,
  createObservability,
  GatewayHealth,
  Observability,
  ObservabilityOverrides,
  PinoLoggerService,
} from '@mailgateway/observability';
import { GatewayModule } from './gateway.module';
import { GrpcExceptionFilter } from './grpc-exception.filter';

/** The services this server answers; each also has a health status under its full name. */
export const SERVED_SERVICES = [`${MAIL_GATEWAY_PACKAGE}.MailGateway`];

export function createGatewayObservability(
  config: GatewayConfig,
  overrides?: ObservabilityOverrides,
): Observability {
  return createObservability(config, SERVED_SERVICES, overrides);
}

export function grpcServerOptions(
  config: GatewayConfig,
  observability: Observability,
): GrpcOptions & { logger: LoggerService } {
  return {
    transport: Transport.GRPC,
    options: {
      package: MAIL_GATEWAY_PACKAGE,
      protoPath: [MAIL_GATEWAY_PROTO_PATH, MAIL_GATEWAY_ADMIN_PROTO_PATH],
      url: `${config.grpc.host}:${config.grpc.port}`,
      loader: PROTO_LOADER_OPTIONS,
      // Slightly above the message cap: an oversized message gets a precise INVALID_ARGUMENT, and
      // anything larger still gets RESOURCE_EXHAUSTED from grpc-js rather than a dropped connection.
      maxReceiveMessageLength: config.grpc.maxReceiveMessageBytes,
      gracefulShutdown: true,
      // grpc.health.v1 (what Kubernetes' gRPC probes call) and reflection (for grpcurl).
      onLoadPackageDefinition: (definition: PackageDefinition, server: Server) =>
        observability.health.addToServer(server, definition),
      credentials: serverCredentials(config),
    },
    logger: new PinoLoggerService(observability.logger),
  };
}

/**
 * Plain TCP unless TLS_CERT_PATH/TLS_KEY_PATH are set. With TLS_CLIENT_CA_PATH every client must
 * present a certificate from that CA (mTLS); the auth guard maps its identity to a source.
 */
function serverCredentials({ tls }: GatewayConfig): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const ca = tls.clientCaPath ? readFileSync(tls.clientCaPath) : null;
  return ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readFileSync(tls.certPath), private_key: readFileSync(tls.keyPath) }],
    ca !== null,
  );
}

export function configureGatewayApp(app: INestMicroservice): INestMicroservice {
  return app.useGlobalFilters(new GrpcExceptionFilter(app.get(CallTelemetry)));
}

/** Builds the gateway (gRPC server, outbox, delivery loop, probes, metrics) without starting it. */
export async function createGatewayApp(
  config: GatewayConfig,
  observability: Observability = createGatewayObservability(config),
): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(
    GatewayModule.forRoot(config, observability),
    grpcServerOptions(config, observability),
  );
  return configureGatewayApp(app);
}

/**
 * Readiness turns NOT_SERVING first (health watchers hear it before the port closes), then the
 * gRPC server stops taking calls and in-flight deliveries drain; /readyz answers 503 meanwhile.
 */
export async function closeGatewayApp(app: INestMicroservice): Promise<void> {
  app.get(GatewayHealth).startShutdown();
  await app.close();
}
