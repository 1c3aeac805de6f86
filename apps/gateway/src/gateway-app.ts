import { readFileSync } from 'node:fs';
import { INestMicroservice, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CustomStrategy } from '@nestjs/microservices';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { LoadedConfig } from '@mailgateway/config';
import {
  MAIL_GATEWAY_ADMIN_PROTO_PATH,
  MAIL_GATEWAY_DESCRIPTOR_SET_PATH,
  MAIL_GATEWAY_PACKAGE,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
} from '@mailgateway/contracts';
import { Dispatcher } from '@mailgateway/delivery';
import {
  CallTelemetry,
  createObservability,
  GatewayHealth,
  Observability,
  ObservabilityOverrides,
  observabilityConfig,
  PinoLoggerService,
} from '@mailgateway/observability';
import { validationConfig } from '@mailgateway/validation';
import { EventStreams } from './events/event-streams';
import { GatewayConfig, gatewayConfig } from './gateway.settings';
import { GatewayModule } from './gateway.module';
import { GrpcExceptionFilter } from './grpc-exception.filter';
import { GatewayGrpcServer } from './operations/gateway-grpc-server';

/** Room for the protobuf envelope around the largest allowed message or batch. */
const GRPC_ENVELOPE_BYTES = 64 * 1024;
/** Share of the shutdown deadline given to in-flight deliveries; the rest releases their claims. */
const DRAIN_SHARE = 0.8;

/** The services this server answers; each also has a health status under its full name. */
export const SERVED_SERVICES = [`${MAIL_GATEWAY_PACKAGE}.MailGateway`];

export function createGatewayObservability(
  config: LoadedConfig,
  overrides?: ObservabilityOverrides,
): Observability {
  return createObservability(config.get(observabilityConfig), SERVED_SERVICES, overrides);
}

/** The largest call the server reads: the message cap and its envelope. */
export function maxReceiveMessageBytes(config: LoadedConfig): number {
  return config.get(validationConfig).maxMessageBytes + GRPC_ENVELOPE_BYTES;
}

export function grpcServerOptions(
  config: LoadedConfig,
  observability: Observability,
): CustomStrategy & { logger: LoggerService } {
  const { grpc, tls } = config.get(gatewayConfig);
  const server = new GatewayGrpcServer(
    {
      package: MAIL_GATEWAY_PACKAGE,
      protoPath: [MAIL_GATEWAY_PROTO_PATH, MAIL_GATEWAY_ADMIN_PROTO_PATH],
      url: `${grpc.host}:${grpc.port}`,
      loader: PROTO_LOADER_OPTIONS,
      // Slightly above the message cap: an oversized message gets a precise INVALID_ARGUMENT, and
      // anything larger still gets RESOURCE_EXHAUSTED from grpc-js rather than a dropped connection.
      maxReceiveMessageLength: maxReceiveMessageBytes(config),
      gracefulShutdown: true,
      // grpc.health.v1 (what Kubernetes' gRPC probes call) and reflection (for grpcurl).
      onLoadPackageDefinition: (_definition: PackageDefinition, grpcServer: Server) =>
        observability.health.addToServer(grpcServer, readFileSync(MAIL_GATEWAY_DESCRIPTOR_SET_PATH)),
      credentials: serverCredentials(tls),
    },
    observability.calls,
  );
  return { strategy: server, logger: new PinoLoggerService(observability.logger) };
}

/**
 * Plain TCP unless TLS_CERT_PATH/TLS_KEY_PATH are set. With TLS_CLIENT_CA_PATH every client must
 * present a certificate from that CA (mTLS); the auth guard maps its identity to a source.
 */
function serverCredentials(tls: GatewayConfig['tls']): ServerCredentials {
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
  config: LoadedConfig,
  observability: Observability = createGatewayObservability(config),
): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(
    GatewayModule.forRoot(config, observability),
    grpcServerOptions(config, observability),
  );
  return configureGatewayApp(app);
}

/**
 * Readiness turns NOT_SERVING first (health watchers hear it before the port closes; /readyz
 * answers 503) and event streams end with UNAVAILABLE (their clients reconnect elsewhere with
 * their cursor), then in-flight deliveries drain within their share of SHUTDOWN_TIMEOUT_MS (the
 * unfinished are released for other replicas), then the gRPC server stops and the app closes.
 */
export async function closeGatewayApp(app: INestMicroservice): Promise<void> {
  app.get(GatewayHealth).startShutdown();
  app.get(EventStreams).closeAll();
  const { shutdownTimeoutMs } = app.get<GatewayConfig>(gatewayConfig.token);
  await app.get(Dispatcher).stop(shutdownTimeoutMs * DRAIN_SHARE);
  await app.close();
}
