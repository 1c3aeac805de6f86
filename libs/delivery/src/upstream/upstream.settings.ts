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
}

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
        'Most connections (and so requests in flight) to one upstream host, across all its addresses.',
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
  }),
  // Every setting marked upstreamUrl, in whichever slice it is (drivers declare theirs), is checked.
  check: (values, catalog) => {
    const problems: string[] = [];
    if (values.UPSTREAM_COOLDOWN_MS > values.UPSTREAM_MAX_COOLDOWN_MS) {
      problems.push('UPSTREAM_COOLDOWN_MS: must not exceed UPSTREAM_MAX_COOLDOWN_MS');
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

function parseAddressMap(value: string | undefined): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>();
  for (const entry of value ? value.split(';') : []) {
    const [host, addresses] = entry.split('=');
    map.set(host.toLowerCase(), addresses.split(',').filter(Boolean));
  }
  return map;
}
