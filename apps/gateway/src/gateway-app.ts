import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import { INestMicroservice, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GrpcOptions, Transport } from '@nestjs/microservices';
import { GatewayConfig } from '@mailgateway/config';
import {
  MAIL_GATEWAY_ADMIN_PROTO_PATH,
  MAIL_GATEWAY_PACKAGE,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
} from '@mailgateway/contracts';
import { GatewayModule } from './gateway.module';
import { GrpcExceptionFilter } from './grpc-exception.filter';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function grpcServerOptions(config: GatewayConfig): GrpcOptions & { logger: LogLevel[] } {
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
      credentials: serverCredentials(config),
    },
    logger: LEVELS.slice(0, LEVELS.indexOf(config.logLevel) + 1),
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
  return app.useGlobalFilters(new GrpcExceptionFilter());
}

/** Builds the gateway (gRPC server, outbox, delivery loop) without starting it. */
export async function createGatewayApp(config: GatewayConfig): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(GatewayModule.forRoot(config), grpcServerOptions(config));
  return configureGatewayApp(app);
}
