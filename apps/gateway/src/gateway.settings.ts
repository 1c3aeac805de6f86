import { defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface GatewayConfig {
  readonly grpc: { readonly host: string; readonly port: number };
  readonly tls?: { readonly certPath: string; readonly keyPath: string; readonly clientCaPath?: string };
  readonly shutdownTimeoutMs: number;
  readonly healthCheckIntervalMs: number;
}

/** The process's own settings: where it listens, how it proves itself, how it stops. */
export const gatewayConfig = defineConfig({
  name: 'gateway',
  settings: {
    GRPC_HOST: setting({
      description: 'Address the gRPC server binds to (0.0.0.0 in containers).',
      schema: z.string().min(1).default('127.0.0.1'),
    }),
    GRPC_PORT: setting({
      description: 'Port of the gRPC server.',
      schema: integer(0, 65535).default(50051),
    }),
    TLS_CERT_PATH: setting({
      description:
        'PEM certificate (chain) of the gRPC listener. With TLS_KEY_PATH, the listener speaks TLS only.',
      schema: z.string().min(1).optional(),
    }),
    TLS_KEY_PATH: setting({
      description: 'PEM private key of TLS_CERT_PATH.',
      schema: z.string().min(1).optional(),
    }),
    TLS_CLIENT_CA_PATH: setting({
      description:
        "PEM CA bundle for client certificates: when set, every client must present a certificate it signed (mTLS), and a certificate whose subject CN or URI SAN is a source's certificate identity authenticates as that source.",
      schema: z.string().min(1).optional(),
    }),
    SHUTDOWN_TIMEOUT_MS: setting({
      description:
        'On SIGTERM: time allowed for in-flight calls and deliveries to finish before claims are released and the process exits.',
      schema: integer(100, 600_000).default(25_000),
    }),
    HEALTH_CHECK_INTERVAL_MS: setting({
      description:
        'How often readiness is re-checked (database reachable, schema current); gRPC health and /readyz report the result.',
      schema: integer(100, 300_000).default(5_000),
    }),
  },
  build: (values): GatewayConfig => ({
    grpc: { host: values.GRPC_HOST, port: values.GRPC_PORT },
    tls:
      values.TLS_CERT_PATH && values.TLS_KEY_PATH
        ? {
            certPath: values.TLS_CERT_PATH,
            keyPath: values.TLS_KEY_PATH,
            clientCaPath: values.TLS_CLIENT_CA_PATH,
          }
        : undefined,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    healthCheckIntervalMs: values.HEALTH_CHECK_INTERVAL_MS,
  }),
  check: (values) => {
    const problems: string[] = [];
    if (Boolean(values.TLS_CERT_PATH) !== Boolean(values.TLS_KEY_PATH)) {
      problems.push(
        `${values.TLS_CERT_PATH ? 'TLS_KEY_PATH' : 'TLS_CERT_PATH'}: TLS_CERT_PATH and TLS_KEY_PATH go together`,
      );
    }
    if (values.TLS_CLIENT_CA_PATH && !values.TLS_CERT_PATH) {
      problems.push(
        'TLS_CLIENT_CA_PATH: needs TLS_CERT_PATH and TLS_KEY_PATH (mTLS is TLS with client certificates)',
      );
    }
    return problems;
  },
});
