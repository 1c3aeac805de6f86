import { ChannelCredentials, ChannelOptions, credentials } from '@grpc/grpc-js';
import {
  GatewayClientOptions,
  GatewayClientOptionsError,
  RetryOptions,
  TlsOptions,
} from './gateway-client-options';

export const DEFAULT_RETRY: Required<RetryOptions> = {
  maxAttempts: 5,
  initialBackoffMs: 100,
  maxBackoffMs: 5_000,
};

/**
 * grpc-js keeps a call's messages for a retry only up to 256 KiB by default, and sends larger calls
 * once. These limits keep a message up to the gateway's default MAX_MESSAGE_BYTES (10 MiB) retryable.
 */
const RETRY_BUFFER_PER_CALL_BYTES = 16 * 1024 * 1024;
const RETRY_BUFFER_PER_CHANNEL_BYTES = 256 * 1024 * 1024;

export interface ChannelSettings {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
}

/**
 * The grpc-js credentials and channel options for `options`. `retriedService` (a fully qualified
 * service name) gets a retry policy for UNAVAILABLE; other services' calls are made once.
 */
export function channelSettings(options: GatewayClientOptions, retriedService?: string): ChannelSettings {
  if (!options.address) throw new GatewayClientOptionsError('address: required (host:port or a gRPC target)');
  const retry = retryOptions(options.retry);
  const keepalive = options.keepalive;
  if (keepalive) {
    positive('keepalive.timeMs', keepalive.timeMs);
    if (keepalive.timeoutMs !== undefined) positive('keepalive.timeoutMs', keepalive.timeoutMs);
  }
  if (options.deadlineMs !== undefined) positive('deadlineMs', options.deadlineMs);
  const serviceConfig = {
    ...(options.loadBalancing ? { loadBalancingConfig: [{ [options.loadBalancing]: {} }] } : {}),
    methodConfig:
      retriedService && retry.maxAttempts > 1
        ? [
            {
              name: [{ service: retriedService }],
              retryPolicy: {
                maxAttempts: retry.maxAttempts,
                initialBackoff: seconds(retry.initialBackoffMs),
                maxBackoff: seconds(retry.maxBackoffMs),
                backoffMultiplier: 2,
                retryableStatusCodes: ['UNAVAILABLE'],
              },
            },
          ]
        : [],
  };
  return {
    credentials: channelCredentials(options),
    options: {
      // The gateway decides what is too large, and says so (RESOURCE_EXHAUSTED, never retried).
      'grpc.max_send_message_length': -1,
      'grpc.service_config': JSON.stringify(serviceConfig),
      // The policy above is the client's: a DNS TXT record must not replace it.
      'grpc.service_config_disable_resolution': 1,
      'grpc.per_rpc_retry_buffer_size': RETRY_BUFFER_PER_CALL_BYTES,
      'grpc.retry_buffer_size': RETRY_BUFFER_PER_CHANNEL_BYTES,
      ...(keepalive
        ? {
            'grpc.keepalive_time_ms': keepalive.timeMs,
            ...(keepalive.timeoutMs !== undefined
              ? { 'grpc.keepalive_timeout_ms': keepalive.timeoutMs }
              : {}),
            'grpc.keepalive_permit_without_calls': keepalive.withoutCalls ? 1 : 0,
          }
        : {}),
      ...options.channelOptions,
    },
  };
}

export function retryOptions(retry: RetryOptions | undefined): Required<RetryOptions> {
  const resolved = { ...DEFAULT_RETRY, ...retry };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new GatewayClientOptionsError(
      `retry.maxAttempts: expected a whole number from 1, got ${resolved.maxAttempts}`,
    );
  }
  positive('retry.initialBackoffMs', resolved.initialBackoffMs);
  positive('retry.maxBackoffMs', resolved.maxBackoffMs);
  return resolved;
}

function channelCredentials({ tls, credentials: given }: GatewayClientOptions): ChannelCredentials {
  if (given && tls) throw new GatewayClientOptionsError('tls and credentials: give one or the other');
  if (given) return given;
  if (!tls) return credentials.createInsecure();
  const { ca, cert, key }: TlsOptions = tls === true ? {} : tls;
  if (Boolean(cert) !== Boolean(key)) {
    throw new GatewayClientOptionsError(
      `tls.${cert ? 'key' : 'cert'}: tls.cert and tls.key go together (mTLS)`,
    );
  }
  return credentials.createSsl(pemBuffer(ca), pemBuffer(key), pemBuffer(cert));
}

const pemBuffer = (pem: string | Buffer | undefined): Buffer | null =>
  pem === undefined ? null : Buffer.from(pem);

/** A duration as the service config writes it: "0.25s". */
const seconds = (ms: number): string => `${Math.max(1, Math.round(ms)) / 1000}s`;

function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new GatewayClientOptionsError(`${name}: expected a positive number of milliseconds, got ${value}`);
  }
}
