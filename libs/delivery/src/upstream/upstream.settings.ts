import { isIP } from 'node:net';
import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';
import { isLocalAddress, localHostProblem } from './local-addresses';

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
  /** What each upstream host allows the whole fleet of replicas together. */
  readonly budget: UpstreamBudgetConfig;
}

/** Where replicas keep their shared count: `auto` is Redis with REDIS_URL, else the database. */
export type UpstreamBudgetStoreKind = 'auto' | 'redis' | 'database' | 'process';

export interface HostBudget {
  /** Connections open to the host from every replica together. */
  readonly connections: number;
  /** Requests (each message is one) per second to the host from every replica together, if limited. */
  readonly messagesPerSecond?: number;
}

export interface UpstreamBudgetConfig {
  readonly store: UpstreamBudgetStoreKind;
  /** The budget of a host that UPSTREAM_HOST_BUDGETS does not name. */
  readonly defaults: HostBudget;
  /** Per host (lower case), from UPSTREAM_HOST_BUDGETS. */
  readonly hosts: ReadonlyMap<string, HostBudget>;
  readonly heartbeatMs: number;
  readonly heartbeatTtlMs: number;
  readonly maxWaitMs: number;
}

/** The budget `hostname` gets: its own line in UPSTREAM_HOST_BUDGETS, else the fleet default. */
export function hostBudget(config: UpstreamBudgetConfig, hostname: string): HostBudget {
  return config.hosts.get(hostname.toLowerCase()) ?? config.defaults;
}

const HOST_BUDGETS_PATTERN = /^[^=;:\s]+=\d+(:\d+(\.\d+)?)?(;[^=;:\s]+=\d+(:\d+(\.\d+)?)?)*$/;

const LOCAL_HINT = '; set UPSTREAM_ALLOW_LOCAL_ADDRESSES=true if that is intended';

export const upstreamConfig = defineConfig({
  name: 'upstream',
  settings: {
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
        'Most connections (and so requests in flight) from this process to one upstream host, across all its addresses; the fleet-wide budget (UPSTREAM_FLEET_MAX_CONNECTIONS) applies as well, and the lower wins.',
      schema: integer(1, 1000).default(10),
    }),
    UPSTREAM_CONNECT_TIMEOUT_MS: setting({
      description:
        'Time allowed to open a connection, TLS handshake included; then the next address is tried.',
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
    UPSTREAM_FLEET_MAX_CONNECTIONS: setting({
      description:
        "Most connections to one upstream host from all replicas together (a provider's concurrency limit); each replica gets a fair share and never more than UPSTREAM_MAX_CONNECTIONS.",
      schema: integer(1, 10_000).default(10),
    }),
    UPSTREAM_HOST_BUDGETS: setting({
      description:
        'Per-host fleet budgets as "host=connections[:messages per second];host2=connections" (e.g. "api.flowmailer.net=10:50"); hosts not listed get UPSTREAM_FLEET_MAX_CONNECTIONS and no message rate.',
      schema: z
        .string()
        .regex(
          HOST_BUDGETS_PATTERN,
          'must look like "host=connections[:messages per second];host2=connections"',
        )
        .optional(),
    }),
    UPSTREAM_BUDGET_STORE: setting({
      description:
        'Where replicas share upstream budgets: "redis" (REDIS_URL), "database" (the outbox database), "process" (no sharing: each process has the whole budget), or "auto" (Redis when REDIS_URL is set, else the database).',
      schema: z.enum(['auto', 'redis', 'database', 'process']).default('auto'),
    }),
    UPSTREAM_FLEET_HEARTBEAT_MS: setting({
      description: 'How often a replica tells the budget store it is alive and what it holds.',
      schema: integer(50, 60_000).default(2_000),
    }),
    UPSTREAM_FLEET_HEARTBEAT_TTL_MS: setting({
      description:
        'A replica not heard from for this long counts as gone: its connections no longer count against the budget and the others share it.',
      schema: integer(200, 600_000).default(10_000),
    }),
    UPSTREAM_BUDGET_MAX_WAIT_MS: setting({
      description:
        'Longest a request waits for a connection or a send slot within the fleet budget; past it the attempt is retried later. Keep it well below DELIVERY_LEASE_MS, so a waiting delivery never outlives its claim.',
      schema: integer(100, 600_000).default(10_000),
    }),
  },
  build: (values): UpstreamConfig => ({
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
    budget: {
      store: values.UPSTREAM_BUDGET_STORE,
      defaults: { connections: values.UPSTREAM_FLEET_MAX_CONNECTIONS },
      hosts: parseHostBudgets(values.UPSTREAM_HOST_BUDGETS),
      heartbeatMs: values.UPSTREAM_FLEET_HEARTBEAT_MS,
      heartbeatTtlMs: values.UPSTREAM_FLEET_HEARTBEAT_TTL_MS,
      maxWaitMs: values.UPSTREAM_BUDGET_MAX_WAIT_MS,
    },
  }),
  // Every setting marked upstreamUrl, in whichever slice it is (drivers declare theirs), is checked.
  check: (values, catalog) => {
    const problems: string[] = [];
    if (values.UPSTREAM_COOLDOWN_MS > values.UPSTREAM_MAX_COOLDOWN_MS) {
      problems.push('UPSTREAM_COOLDOWN_MS: must not exceed UPSTREAM_MAX_COOLDOWN_MS');
    }
    // Two heartbeats may be lost (a slow store, a pause) before a live replica counts as gone.
    if (values.UPSTREAM_FLEET_HEARTBEAT_TTL_MS < 3 * values.UPSTREAM_FLEET_HEARTBEAT_MS) {
      problems.push('UPSTREAM_FLEET_HEARTBEAT_TTL_MS: must be at least 3 × UPSTREAM_FLEET_HEARTBEAT_MS');
    }
    for (const [host, budget] of parseHostBudgets(values.UPSTREAM_HOST_BUDGETS)) {
      if (budget.connections < 1 || budget.connections > 10_000) {
        problems.push(`UPSTREAM_HOST_BUDGETS: ${host} needs 1 to 10000 connections`);
      }
      if (budget.messagesPerSecond !== undefined && !(budget.messagesPerSecond > 0)) {
        problems.push(`UPSTREAM_HOST_BUDGETS: ${host} needs a message rate above 0`);
      }
    }
    const redisUrl = catalog.get('REDIS_URL');
    if (values.UPSTREAM_BUDGET_STORE === 'redis' && redisUrl && redisUrl.value === undefined) {
      problems.push('UPSTREAM_BUDGET_STORE: "redis" needs REDIS_URL');
    }
    for (const address of parseAddressMap(values.UPSTREAM_ADDRESSES).values()) {
      for (const ip of address) {
        if (isIP(ip) === 0) problems.push(`UPSTREAM_ADDRESSES: "${ip}" is not an IP address`);
        else if (!values.UPSTREAM_ALLOW_LOCAL_ADDRESSES && isLocalAddress(ip)) {
          problems.push(
            `UPSTREAM_ADDRESSES: ${ip} is a loopback, link-local or metadata address${LOCAL_HINT}`,
          );
        }
      }
    }
    if (!values.UPSTREAM_ALLOW_LOCAL_ADDRESSES) {
      for (const [name, { setting, value }] of catalog) {
        const problem =
          setting.upstreamUrl && typeof value === 'string' ? localHostProblem(value) : undefined;
        if (problem) problems.push(`${name}: ${problem}${LOCAL_HINT}`);
      }
    }
    return problems;
  },
});

function parseHostBudgets(value: string | undefined): ReadonlyMap<string, HostBudget> {
  const map = new Map<string, HostBudget>();
  for (const entry of value ? value.split(';') : []) {
    const [host, limits] = entry.split('=');
    const [connections, rate] = limits.split(':');
    map.set(
      host.toLowerCase(),
      rate === undefined
        ? { connections: Number(connections) }
        : { connections: Number(connections), messagesPerSecond: Number(rate) },
    );
  }
  return map;
}

function parseAddressMap(value: string | undefined): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>();
  for (const entry of value ? value.split(';') : []) {
    const [host, addresses] = entry.split('=');
    map.set(host.toLowerCase(), addresses.split(',').filter(Boolean));
  }
  return map;
}
