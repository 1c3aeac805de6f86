import { isIP } from 'node:net';
import { isLocalAddress, localHostProblem } from './local-addresses';
import { SettingName, settings, SettingValues } from './settings';

export type DatabaseConfig =
  | { readonly type: 'sqlite'; readonly path: string }
  | {
      readonly type: 'postgres';
      readonly url: string;
      readonly poolSize: number;
      readonly connectTimeoutMs: number;
    };

export interface GatewayConfig {
  readonly grpc: { readonly host: string; readonly port: number; readonly maxReceiveMessageBytes: number };
  readonly database: DatabaseConfig;
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly maxAttachmentBytes: number;
    readonly maxRecipients: number;
    readonly maxBatchItems: number;
    readonly maxQueuedMessages: number;
  };
  readonly delivery: {
    readonly enabled: boolean;
    readonly driver: string;
    readonly concurrency: number;
    readonly pollIntervalMs: number;
    readonly leaseMs: number;
    readonly retryBaseDelayMs: number;
    readonly retryMaxDelayMs: number;
    readonly maxAttempts: number;
    readonly messageMaxAgeMs: number;
    readonly fallbackDriver?: string;
    readonly fallbackAfterFailures: number;
  };
  readonly upstream: UpstreamConfig;
  readonly drivers: DriversConfig;
  readonly sandbox: { readonly outputPath?: string; readonly latencyMs: number };
  readonly auth: {
    readonly bootstrapSource: string;
    readonly bootstrapApiKey?: string;
    readonly rotationOverlapMs: number;
    readonly cacheMs: number;
  };
  readonly rateLimits: {
    readonly windowMs: number;
    readonly sourceMessages: number;
    readonly globalMessages: number;
    readonly redis?: {
      readonly url: string;
      readonly keyPrefix: string;
      readonly commandTimeoutMs: number;
      readonly onFailure: 'open' | 'closed';
    };
  };
  readonly tls?: { readonly certPath: string; readonly keyPath: string; readonly clientCaPath?: string };
  readonly shutdownTimeoutMs: number;
  readonly logLevel: SettingValues['LOG_LEVEL'];
  readonly health: { readonly checkIntervalMs: number };
  readonly metrics: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly tracing: {
    readonly enabled: boolean;
    readonly otlpEndpoint?: string;
    readonly serviceName: string;
  };
}

/** How the gateway talks to every upstream host (provider APIs, token endpoints). */
export interface UpstreamConfig {
  /** Fixed addresses per hostname; hostnames not listed are resolved through DNS. */
  readonly addresses: ReadonlyMap<string, readonly string[]>;
  /** Loopback, link-local and metadata addresses may be connected to (tests, a local relay). */
  readonly allowLocalAddresses: boolean;
  readonly dnsRefreshMs: number;
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly connectionTtlMs: number;
  readonly caFile?: string;
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

export interface DriversConfig {
  readonly http: { readonly url?: string; readonly authHeader: string; readonly authValue?: string };
  readonly sendgrid: { readonly apiUrl: string; readonly apiKey?: string };
  readonly postmark: {
    readonly apiUrl: string;
    readonly serverToken?: string;
    readonly messageStream: string;
  };
  readonly flowmailer: {
    readonly apiUrl: string;
    readonly tokenUrl: string;
    readonly accountId?: string;
    readonly clientId?: string;
    readonly clientSecret?: string;
  };
}

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

/** The most items one SendMailBatch call may carry (part of the contract). */
export const MAX_BATCH_ITEMS = 500;
/** Room for the protobuf envelope around the largest allowed message or batch. */
const GRPC_ENVELOPE_BYTES = 64 * 1024;

export class ConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = ConfigurationError.name;
  }
}

/** Reads and validates every setting once; throws a ConfigurationError naming each bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const values = readSettings(env);
  const problems = crossCheck(values);
  if (problems.length > 0) throw new ConfigurationError(problems);
  return {
    grpc: {
      host: values.GRPC_HOST,
      port: values.GRPC_PORT,
      maxReceiveMessageBytes: values.MAX_MESSAGE_BYTES + GRPC_ENVELOPE_BYTES,
    },
    database: values.DATABASE_URL
      ? {
          type: 'postgres',
          url: values.DATABASE_URL,
          poolSize: values.DATABASE_POOL_SIZE,
          connectTimeoutMs: values.DATABASE_CONNECT_TIMEOUT_MS,
        }
      : { type: 'sqlite', path: values.SQLITE_PATH },
    limits: {
      maxMessageBytes: values.MAX_MESSAGE_BYTES,
      maxAttachmentBytes: values.MAX_ATTACHMENT_BYTES,
      maxRecipients: values.MAX_RECIPIENTS,
      maxBatchItems: MAX_BATCH_ITEMS,
      maxQueuedMessages: values.OUTBOX_MAX_QUEUED_MESSAGES,
    },
    delivery: {
      enabled: values.DELIVERY_ENABLED,
      driver: values.MAIL_DRIVER,
      concurrency: values.DELIVERY_CONCURRENCY,
      pollIntervalMs: values.DELIVERY_POLL_INTERVAL_MS,
      leaseMs: values.DELIVERY_LEASE_MS,
      retryBaseDelayMs: values.RETRY_BASE_DELAY_MS,
      retryMaxDelayMs: values.RETRY_MAX_DELAY_MS,
      maxAttempts: values.DELIVERY_MAX_ATTEMPTS,
      messageMaxAgeMs: values.MESSAGE_MAX_AGE_MS,
      fallbackDriver: values.FALLBACK_MAIL_DRIVER,
      fallbackAfterFailures: values.FALLBACK_AFTER_FAILURES,
    },
    upstream: {
      addresses: parseAddressMap(values.UPSTREAM_ADDRESSES),
      allowLocalAddresses: values.UPSTREAM_ALLOW_LOCAL_ADDRESSES,
      dnsRefreshMs: values.UPSTREAM_DNS_REFRESH_MS,
      maxConnections: values.UPSTREAM_MAX_CONNECTIONS,
      connectTimeoutMs: values.UPSTREAM_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: values.UPSTREAM_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: values.UPSTREAM_BODY_TIMEOUT_MS,
      keepAliveMs: values.UPSTREAM_KEEP_ALIVE_MS,
      connectionTtlMs: values.UPSTREAM_CONNECTION_TTL_MS,
      caFile: values.UPSTREAM_CA_FILE,
      cooldownMs: values.UPSTREAM_COOLDOWN_MS,
      maxCooldownMs: values.UPSTREAM_MAX_COOLDOWN_MS,
    },
    drivers: {
      http: {
        url: values.HTTP_DRIVER_URL,
        authHeader: values.HTTP_DRIVER_AUTH_HEADER,
        authValue: values.HTTP_DRIVER_AUTH_VALUE,
      },
      sendgrid: { apiUrl: values.SENDGRID_API_URL, apiKey: values.SENDGRID_API_KEY },
      postmark: {
        apiUrl: values.POSTMARK_API_URL,
        serverToken: values.POSTMARK_SERVER_TOKEN,
        messageStream: values.POSTMARK_MESSAGE_STREAM,
      },
      flowmailer: {
        apiUrl: values.FLOWMAILER_API_URL,
        tokenUrl: values.FLOWMAILER_TOKEN_URL,
        accountId: values.FLOWMAILER_ACCOUNT_ID,
        clientId: values.FLOWMAILER_CLIENT_ID,
        clientSecret: values.FLOWMAILER_CLIENT_SECRET,
      },
    },
    sandbox: { outputPath: values.SANDBOX_OUTPUT_PATH, latencyMs: values.SANDBOX_LATENCY_MS },
    auth: {
      bootstrapSource: values.BOOTSTRAP_SOURCE,
      bootstrapApiKey: values.BOOTSTRAP_API_KEY,
      rotationOverlapMs: values.API_KEY_ROTATION_OVERLAP_MS,
      cacheMs: values.API_KEY_CACHE_MS,
    },
    rateLimits: {
      windowMs: values.RATE_LIMIT_WINDOW_MS,
      sourceMessages: values.RATE_LIMIT_SOURCE_MESSAGES,
      globalMessages: values.RATE_LIMIT_GLOBAL_MESSAGES,
      redis: values.REDIS_URL
        ? {
            url: values.REDIS_URL,
            keyPrefix: values.REDIS_KEY_PREFIX,
            commandTimeoutMs: values.REDIS_COMMAND_TIMEOUT_MS,
            onFailure: values.RATE_LIMIT_ON_REDIS_FAILURE,
          }
        : undefined,
    },
    tls:
      values.TLS_CERT_PATH && values.TLS_KEY_PATH
        ? {
            certPath: values.TLS_CERT_PATH,
            keyPath: values.TLS_KEY_PATH,
            clientCaPath: values.TLS_CLIENT_CA_PATH,
          }
        : undefined,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    logLevel: values.LOG_LEVEL,
    health: { checkIntervalMs: values.HEALTH_CHECK_INTERVAL_MS },
    metrics: { enabled: values.METRICS_ENABLED, host: values.METRICS_HOST, port: values.METRICS_PORT },
    tracing: {
      enabled: values.TRACING_ENABLED || values.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined,
      otlpEndpoint: values.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: values.OTEL_SERVICE_NAME,
    },
  };
}

function readSettings(env: NodeJS.ProcessEnv): SettingValues {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, { schema, sensitive }] of Object.entries(settings)) {
    // An empty variable counts as unset, as in most shells' `VAR= command`.
    const raw = env[name] === '' ? undefined : env[name];
    const result = schema.safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      const shown = sensitive || raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`;
      problems.push(`${name}: ${result.error.issues.map((issue) => issue.message).join('; ')}${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
  return values as SettingValues;
}

function parseAddressMap(value: string | undefined): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>();
  for (const entry of value ? value.split(';') : []) {
    const [host, addresses] = entry.split('=');
    map.set(host.toLowerCase(), addresses.split(',').filter(Boolean));
  }
  return map;
}

/** Every setting that names an upstream the gateway calls. */
const UPSTREAM_URL_SETTINGS = [
  'HTTP_DRIVER_URL',
  'SENDGRID_API_URL',
  'POSTMARK_API_URL',
  'FLOWMAILER_API_URL',
  'FLOWMAILER_TOKEN_URL',
] as const satisfies readonly SettingName[];
const LOCAL_HINT = '; set UPSTREAM_ALLOW_LOCAL_ADDRESSES=true if that is intended';

function crossCheck(values: SettingValues): string[] {
  const problems: string[] = [];
  const fail = (name: SettingName, message: string) => problems.push(`${name}: ${message}`);
  if (values.MAX_ATTACHMENT_BYTES > values.MAX_MESSAGE_BYTES) {
    fail('MAX_ATTACHMENT_BYTES', 'must not exceed MAX_MESSAGE_BYTES');
  }
  if (values.RETRY_BASE_DELAY_MS > values.RETRY_MAX_DELAY_MS) {
    fail('RETRY_BASE_DELAY_MS', 'must not exceed RETRY_MAX_DELAY_MS');
  }
  if (values.UPSTREAM_COOLDOWN_MS > values.UPSTREAM_MAX_COOLDOWN_MS) {
    fail('UPSTREAM_COOLDOWN_MS', 'must not exceed UPSTREAM_MAX_COOLDOWN_MS');
  }
  for (const address of parseAddressMap(values.UPSTREAM_ADDRESSES).values()) {
    for (const ip of address) {
      if (isIP(ip) === 0) fail('UPSTREAM_ADDRESSES', `"${ip}" is not an IP address`);
      else if (!values.UPSTREAM_ALLOW_LOCAL_ADDRESSES && isLocalAddress(ip)) {
        fail('UPSTREAM_ADDRESSES', `${ip} is a loopback, link-local or metadata address${LOCAL_HINT}`);
      }
    }
  }
  if (!values.UPSTREAM_ALLOW_LOCAL_ADDRESSES) {
    for (const name of UPSTREAM_URL_SETTINGS) {
      const url = values[name];
      const problem = url === undefined ? undefined : localHostProblem(url);
      if (problem) fail(name, `${problem}${LOCAL_HINT}`);
    }
  }
  if (Boolean(values.TLS_CERT_PATH) !== Boolean(values.TLS_KEY_PATH)) {
    fail(
      values.TLS_CERT_PATH ? 'TLS_KEY_PATH' : 'TLS_CERT_PATH',
      'TLS_CERT_PATH and TLS_KEY_PATH go together',
    );
  }
  if (values.TLS_CLIENT_CA_PATH && !values.TLS_CERT_PATH) {
    fail('TLS_CLIENT_CA_PATH', 'needs TLS_CERT_PATH and TLS_KEY_PATH (mTLS is TLS with client certificates)');
  }
  return problems;
}
