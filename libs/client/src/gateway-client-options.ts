import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';

export interface GatewayClientOptions {
  /**
   * Where the gateway listens: `host:port`, or a gRPC target such as
   * `dns:///mailgateway-headless.mail.svc.cluster.local:50051` (every address the name resolves to,
   * with `loadBalancing: 'round_robin'` to spread calls over them).
   */
  readonly address: string;
  /** Sent as `authorization: Bearer <key>` with every call. */
  readonly apiKey?: string;
  /** TLS to the gateway: `true` trusts the system's certificate authorities; an object sets its own. */
  readonly tls?: boolean | TlsOptions;
  /** Ready-made grpc-js credentials instead of `tls` (plain TCP when both are absent). */
  readonly credentials?: ChannelCredentials;
  /** `pick_first` (grpc-js's default: one connection) or `round_robin` (one per resolved address). */
  readonly loadBalancing?: 'pick_first' | 'round_robin';
  /** HTTP/2 pings that detect a dead connection (say, a replica gone without closing it). */
  readonly keepalive?: KeepaliveOptions;
  /** Deadline of each call, retries included. Default 10 s. */
  readonly deadlineMs?: number;
  /** Sent with every call. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly retry?: RetryOptions;
  /** Raw grpc-js channel options, applied over the ones the client derives from the options above. */
  readonly channelOptions?: ChannelOptions;
}

/** PEM text or bytes. */
export type Pem = string | Buffer;

export interface TlsOptions {
  /** Certificate authorities that sign the gateway's certificate; default: the system's. */
  readonly ca?: Pem;
  /** Client certificate (chain) for mTLS, with its `key`. */
  readonly cert?: Pem;
  readonly key?: Pem;
}

export interface KeepaliveOptions {
  /** Idle time after which the client pings the connection. */
  readonly timeMs: number;
  /** How long an unanswered ping waits before the connection is dropped. grpc-js's default is 20 s. */
  readonly timeoutMs?: number;
  /** Ping also while no call is in flight (the server must permit it, or it closes the connection). */
  readonly withoutCalls?: boolean;
}

/**
 * Retries of the mail client, for answers that may change: UNAVAILABLE (by grpc-js's retry policy,
 * with exponential backoff and full jitter) and RESOURCE_EXHAUSTED that carries the server's advice
 * on when to retry (after the advised delay). Never for any other answer, such as an invalid or
 * oversize message. Every attempt of a send carries the same idempotency key.
 */
export interface RetryOptions {
  /** Attempts per call, the first included; 1 turns retries off. grpc-js caps UNAVAILABLE at 5. */
  readonly maxAttempts?: number;
  /** First backoff after UNAVAILABLE; it grows by 2 per retry up to maxBackoffMs. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** An option the client cannot use: thrown by the constructor, naming the option. */
export class GatewayClientOptionsError extends TypeError {
  override readonly name = 'GatewayClientOptionsError';
}
