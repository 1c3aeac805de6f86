import { z } from 'zod';

/** One environment variable: how it is parsed, its default, and what it does (for the docs). */
export interface Setting<T> {
  readonly description: string;
  readonly schema: z.ZodType<T>;
  /** Never printed, not even in a validation error. */
  readonly sensitive?: boolean;
}

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolean = z.enum(['true', 'false']).transform((value) => value === 'true');
const mebibytes = 1024 * 1024;

/** Same format as the auth lib's keys; kept here so a bad bootstrap key stops the process at start. */
const API_KEY_FORMAT = /^mgw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
const sourceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes');

const setting = <T>(definition: Setting<T>): Setting<T> => definition;

export const settings = {
  GRPC_HOST: setting({
    description: 'Address the gRPC server binds to (0.0.0.0 in containers).',
    schema: z.string().min(1).default('127.0.0.1'),
  }),
  GRPC_PORT: setting({
    description: 'Port of the gRPC server.',
    schema: integer(0, 65535).default(50051),
  }),
  DATABASE_URL: setting({
    description: 'PostgreSQL connection URL. When unset the gateway uses the embedded SQLite file.',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    sensitive: true,
  }),
  SQLITE_PATH: setting({
    description: 'SQLite database file, used when DATABASE_URL is unset. Created with its folder.',
    schema: z.string().min(1).default('data/mailgateway.sqlite'),
  }),
  DATABASE_POOL_SIZE: setting({
    description: 'PostgreSQL connections per process.',
    schema: integer(1, 200).default(10),
  }),
  DATABASE_CONNECT_TIMEOUT_MS: setting({
    description: 'How long to wait for a PostgreSQL connection (from the pool or a new one) before failing.',
    schema: integer(100, 120_000).default(5_000),
  }),
  MAX_MESSAGE_BYTES: setting({
    description:
      'Largest accepted message: bodies, headers and attachments together. The gRPC receive limit follows it.',
    schema: integer(1024, 64 * mebibytes).default(10 * mebibytes),
  }),
  MAX_ATTACHMENT_BYTES: setting({
    description: 'Largest single attachment.',
    schema: integer(1, 64 * mebibytes).default(7 * mebibytes),
  }),
  MAX_RECIPIENTS: setting({
    description: 'Most recipients (to + cc + bcc) in one message.',
    schema: integer(1, 1000).default(50),
  }),
  OUTBOX_MAX_QUEUED_MESSAGES: setting({
    description:
      'Most messages waiting for the next outbox commit in one process. Past it, SendMail and SendMailBatch are refused at once with RESOURCE_EXHAUSTED and a retry delay, so an overload cannot grow memory or latency without bound.',
    schema: integer(500, 1_000_000).default(5_000),
  }),
  MAIL_DRIVER: setting({
    description:
      'Provider driver that delivers messages. "sandbox" records messages instead of sending them.',
    schema: z.string().min(1).default('sandbox'),
  }),
  DELIVERY_ENABLED: setting({
    description: 'Run the delivery loop in this process.',
    schema: boolean.default(true),
  }),
  DELIVERY_CONCURRENCY: setting({
    description: 'Deliveries in flight at once in this process.',
    schema: integer(1, 1000).default(10),
  }),
  DELIVERY_POLL_INTERVAL_MS: setting({
    description: 'Pause between outbox polls when nothing is due.',
    schema: integer(10, 60_000).default(250),
  }),
  DELIVERY_LEASE_MS: setting({
    description:
      'How long a claimed message belongs to one delivery attempt; after that any process may claim it again.',
    schema: integer(1_000, 3_600_000).default(60_000),
  }),
  RETRY_BASE_DELAY_MS: setting({
    description: 'First retry delay; each retry doubles it (with full jitter) up to RETRY_MAX_DELAY_MS.',
    schema: integer(1, 3_600_000).default(1_000),
  }),
  RETRY_MAX_DELAY_MS: setting({
    description: 'Longest delay between two attempts.',
    schema: integer(1, 86_400_000).default(600_000),
  }),
  DELIVERY_MAX_ATTEMPTS: setting({
    description: 'Attempts before a message that keeps failing is marked failed.',
    schema: integer(1, 1000).default(25),
  }),
  MESSAGE_MAX_AGE_MS: setting({
    description: 'A message not delivered this long after it was accepted is marked expired.',
    schema: integer(1_000, 30 * 86_400_000).default(86_400_000),
  }),
  FALLBACK_MAIL_DRIVER: setting({
    description: 'Optional secondary driver: a message that keeps failing with the first one moves to it.',
    schema: z.string().min(1).optional(),
  }),
  FALLBACK_AFTER_FAILURES: setting({
    description: 'Retryable failures with MAIL_DRIVER before a message moves to FALLBACK_MAIL_DRIVER.',
    schema: integer(1, 1000).default(3),
  }),
  UPSTREAM_ADDRESSES: setting({
    description:
      'Fixed upstream addresses instead of DNS, as "host=ip,ip;host2=ip" (e.g. "api.sendgrid.com=192.0.2.10,192.0.2.11").',
    schema: z
      .string()
      .regex(/^[^=;\s]+=[^=;\s]+(;[^=;\s]+=[^=;\s]+)*$/, 'must look like "host=ip,ip;host2=ip"')
      .optional(),
  }),
  UPSTREAM_ALLOW_LOCAL_ADDRESSES: setting({
    description:
      'Allow upstreams on loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses (169.254.169.254, fd00:ec2::254). Off: such upstream URLs and UPSTREAM_ADDRESSES are refused at start-up, and DNS answers pointing there are never connected to.',
    schema: boolean.default(false),
  }),
  UPSTREAM_DNS_REFRESH_MS: setting({
    description:
      'How often upstream hostnames are resolved again (all A and AAAA records), so DNS changes are followed.',
    schema: integer(1_000, 3_600_000).default(30_000),
  }),
  UPSTREAM_MAX_CONNECTIONS: setting({
    description:
      'Most connections (and so requests in flight) to one upstream host, across all its addresses.',
    schema: integer(1, 1000).default(10),
  }),
  UPSTREAM_CONNECT_TIMEOUT_MS: setting({
    description: 'Time allowed to open a connection, TLS handshake included; then the next address is tried.',
    schema: integer(100, 120_000).default(5_000),
  }),
  UPSTREAM_HEADERS_TIMEOUT_MS: setting({
    description: 'Time allowed for the response headers once the request is sent.',
    schema: integer(100, 600_000).default(30_000),
  }),
  UPSTREAM_BODY_TIMEOUT_MS: setting({
    description: 'Longest pause allowed between two chunks of a response body.',
    schema: integer(100, 600_000).default(30_000),
  }),
  UPSTREAM_KEEP_ALIVE_MS: setting({
    description: 'How long an idle upstream connection is kept open for reuse.',
    schema: integer(1_000, 600_000).default(30_000),
  }),
  UPSTREAM_CONNECTION_TTL_MS: setting({
    description:
      'Age at which an upstream connection is retired after its request, so traffic spreads again over the addresses (one that recovered or newly appeared in DNS).',
    schema: integer(100, 3_600_000).default(60_000),
  }),
  UPSTREAM_CA_FILE: setting({
    description:
      'PEM file of extra certificate authorities to trust for upstreams, besides the system ones. Verification is always on.',
    schema: z.string().min(1).optional(),
  }),
  UPSTREAM_COOLDOWN_MS: setting({
    description:
      'First pause before a failing upstream address is tried again; it doubles with each further failure.',
    schema: integer(10, 600_000).default(1_000),
  }),
  UPSTREAM_MAX_COOLDOWN_MS: setting({
    description: 'Longest pause before a failing upstream address is tried again.',
    schema: integer(10, 3_600_000).default(60_000),
  }),
  HTTP_DRIVER_URL: setting({
    description: 'Driver "http": the URL each message is POSTed to as JSON.',
    schema: z.string().url().optional(),
  }),
  HTTP_DRIVER_AUTH_HEADER: setting({
    description: 'Driver "http": the header that carries HTTP_DRIVER_AUTH_VALUE.',
    schema: z.string().min(1).default('authorization'),
  }),
  HTTP_DRIVER_AUTH_VALUE: setting({
    description: 'Driver "http": the credential sent in HTTP_DRIVER_AUTH_HEADER (e.g. "Bearer ...").',
    schema: z.string().min(1).optional(),
    sensitive: true,
  }),
  SENDGRID_API_URL: setting({
    description: 'Driver "sendgrid": API base URL.',
    schema: z.string().url().default('https://api.sendgrid.com'),
  }),
  SENDGRID_API_KEY: setting({
    description: 'Driver "sendgrid": API key with the Mail Send permission.',
    schema: z.string().min(1).optional(),
    sensitive: true,
  }),
  POSTMARK_API_URL: setting({
    description: 'Driver "postmark": API base URL.',
    schema: z.string().url().default('https://api.postmarkapp.com'),
  }),
  POSTMARK_SERVER_TOKEN: setting({
    description: 'Driver "postmark": server API token.',
    schema: z.string().min(1).optional(),
    sensitive: true,
  }),
  POSTMARK_MESSAGE_STREAM: setting({
    description: 'Driver "postmark": message stream for transactional mail.',
    schema: z.string().min(1).default('outbound'),
  }),
  FLOWMAILER_API_URL: setting({
    description: 'Driver "flowmailer": API base URL.',
    schema: z.string().url().default('https://api.flowmailer.net'),
  }),
  FLOWMAILER_TOKEN_URL: setting({
    description: 'Driver "flowmailer": OAuth2 token endpoint (client credentials).',
    schema: z.string().url().default('https://login.flowmailer.net/oauth/token'),
  }),
  FLOWMAILER_ACCOUNT_ID: setting({
    description: 'Driver "flowmailer": account id, part of every API path.',
    schema: z.string().min(1).optional(),
  }),
  FLOWMAILER_CLIENT_ID: setting({
    description: 'Driver "flowmailer": OAuth2 client id.',
    schema: z.string().min(1).optional(),
  }),
  FLOWMAILER_CLIENT_SECRET: setting({
    description: 'Driver "flowmailer": OAuth2 client secret.',
    schema: z.string().min(1).optional(),
    sensitive: true,
  }),
  SANDBOX_OUTPUT_PATH: setting({
    description:
      'Sandbox driver: append one JSON line per delivered message (id, sender, recipients, subject) to this file.',
    schema: z.string().min(1).optional(),
  }),
  SANDBOX_LATENCY_MS: setting({
    description: 'Sandbox driver: pretend each send takes this long.',
    schema: integer(0, 600_000).default(0),
  }),
  BOOTSTRAP_SOURCE: setting({
    description:
      'Source created on first start (roles mail.send, mail.read and admin) so a fresh gateway has a way in.',
    schema: sourceName.default('dev'),
  }),
  BOOTSTRAP_API_KEY: setting({
    description:
      'An API key (mgw_<prefix>_<secret>, e.g. from `mailgateway keys generate`) registered for BOOTSTRAP_SOURCE at start if its prefix is new. When unset, a fresh SQLite gateway creates a key and prints it once.',
    schema: z
      .string()
      .regex(API_KEY_FORMAT, 'must be an API key: mgw_<12 hex digits>_<43 base64url characters>')
      .optional(),
    sensitive: true,
  }),
  API_KEY_ROTATION_OVERLAP_MS: setting({
    description: 'After a rotation the old key stays valid this long, unless the call names its own overlap.',
    schema: integer(0, 30 * 86_400_000).default(86_400_000),
  }),
  API_KEY_CACHE_MS: setting({
    description:
      'How long a process may reuse a successful key lookup. 0 (no cache) makes revocation take effect at once on every replica; at most 1000.',
    schema: integer(0, 1_000).default(0),
  }),
  RATE_LIMIT_WINDOW_MS: setting({
    description: 'Length of the fixed window the message limits count in.',
    schema: integer(100, 86_400_000).default(60_000),
  }),
  RATE_LIMIT_SOURCE_MESSAGES: setting({
    description:
      'Messages one source may submit per window (a batch counts as its number of items); a source policy may set its own.',
    schema: integer(1, 100_000_000).default(60_000),
  }),
  RATE_LIMIT_GLOBAL_MESSAGES: setting({
    description: 'Messages all sources together may submit per window.',
    schema: integer(1, 1_000_000_000).default(600_000),
  }),
  REDIS_URL: setting({
    description:
      'Redis for rate-limit counters shared by every replica (redis:// or rediss://). When unset, counters live in this process.',
    schema: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    sensitive: true,
  }),
  REDIS_KEY_PREFIX: setting({
    description: 'Prefix of every Redis key the gateway writes.',
    schema: z.string().min(1).max(100).default('mailgateway:'),
  }),
  REDIS_COMMAND_TIMEOUT_MS: setting({
    description: 'How long a rate-limit check waits for Redis before treating it as unreachable.',
    schema: integer(10, 10_000).default(200),
  }),
  RATE_LIMIT_ON_REDIS_FAILURE: setting({
    description:
      'When Redis is unreachable: "open" lets calls through unthrottled (and logs it), "closed" refuses them with UNAVAILABLE.',
    schema: z.enum(['open', 'closed']).default('open'),
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
  LOG_LEVEL: setting({
    description:
      'Least severe log level written, as JSON lines on stdout ("log" is pino\'s "info", "verbose" its "trace").',
    schema: z.enum(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  }),
  HEALTH_CHECK_INTERVAL_MS: setting({
    description:
      'How often readiness is re-checked (database reachable, schema current); gRPC health and /readyz report the result.',
    schema: integer(100, 300_000).default(5_000),
  }),
  METRICS_ENABLED: setting({
    description: 'Serve Prometheus metrics (/metrics) and HTTP probes (/livez, /readyz).',
    schema: boolean.default(true),
  }),
  METRICS_HOST: setting({
    description: 'Address the metrics and probe HTTP server binds to (0.0.0.0 in containers).',
    schema: z.string().min(1).default('127.0.0.1'),
  }),
  METRICS_PORT: setting({
    description: 'Port of the metrics and probe HTTP server; 0 picks a free port (logged at start).',
    schema: integer(0, 65535).default(9464),
  }),
  TRACING_ENABLED: setting({
    description:
      "Create a span per gRPC call, continuing the caller's W3C traceparent, and store the trace context with each message for its delivery. On when OTEL_EXPORTER_OTLP_ENDPOINT is set.",
    schema: boolean.default(false),
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting({
    description: 'OTLP/HTTP collector base URL (traces go to <url>/v1/traces). Setting it turns tracing on.',
    schema: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  }),
  OTEL_SERVICE_NAME: setting({
    description: 'service.name of the spans.',
    schema: z.string().min(1).default('mailgateway'),
  }),
};

export type SettingName = keyof typeof settings;
export type SettingValues = { [K in SettingName]: z.output<(typeof settings)[K]['schema']> };
