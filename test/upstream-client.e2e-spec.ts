import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfigSlice } from '@mailgateway/config';
import {
  UpstreamClient,
  UpstreamOutcomeUnknownException,
  UpstreamRegistry,
  upstreamConfig,
  UpstreamUnavailableException,
} from '@mailgateway/delivery';
import { FakeUpstream, StaticHostResolver, TestCertificateAuthority, waitFor } from '@mailgateway/testing';

const HOSTNAME = 'mail.upstream.test';
const [REFUSING, BLACK_HOLE, HEALTHY] = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const ALL = [REFUSING, BLACK_HOLE, HEALTHY];

describe('UpstreamClient against real HTTPS servers on 127.0.0.2-4', () => {
  let authority: TestCertificateAuthority;
  let caFile: string;
  let upstream: FakeUpstream;
  let resolver: StaticHostResolver;
  let registry: UpstreamRegistry;

  const post = (client: UpstreamClient, body = '{}', idempotent = false) =>
    client.request({
      method: 'POST',
      path: '/send',
      body,
      headers: { 'content-type': 'application/json' },
      idempotent,
    });

  const clientFor = (env: Record<string, string> = {}) => {
    const config = loadConfigSlice(upstreamConfig, {
      UPSTREAM_CA_FILE: caFile,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_CONNECT_TIMEOUT_MS: '300',
      UPSTREAM_COOLDOWN_MS: '200',
      UPSTREAM_MAX_COOLDOWN_MS: '1000',
      UPSTREAM_DNS_REFRESH_MS: '1000',
      UPSTREAM_CONNECTION_TTL_MS: '60000',
      ...env,
    });
    registry = new UpstreamRegistry(config, resolver);
    return registry.client(`https://${HOSTNAME}:${upstream.port}/v1`) as UpstreamClient;
  };

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
  });

  beforeEach(async () => {
    upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), ALL);
    resolver = new StaticHostResolver().set(HOSTNAME, ALL);
  });

  afterEach(async () => {
    await registry?.onModuleDestroy();
    await upstream.close();
  });

  it('spreads connections over every address, verifying TLS against the hostname', async () => {
    upstream.handler = async (_request, response) => {
      await sleep(30);
      response.writeHead(202).end();
    };
    const client = clientFor();
    const responses = await Promise.all(Array.from({ length: 30 }, () => post(client)));

    expect(responses.every((response) => response.statusCode === 202)).toBe(true);
    for (const address of ALL) expect(upstream.requestsTo(address).length).toBeGreaterThan(0);
    expect(upstream.requests.every((request) => request.servername === HOSTNAME)).toBe(true);
    expect(
      upstream.requests.every((request) => request.headers.host === `${HOSTNAME}:${upstream.port}`),
    ).toBe(true);
  });

  it('keeps connections alive and reuses them', async () => {
    const client = clientFor();
    for (let index = 0; index < 30; index++) await post(client);
    expect(upstream.requests).toHaveLength(30);
    expect(upstream.connectionsOpened).toBeLessThanOrEqual(2);
  });

  it('delivers everything through the healthy address when one refuses and one is black-holed', async () => {
    await upstream.refuse(REFUSING);
    await upstream.blackHole(BLACK_HOLE);
    const client = clientFor();

    const responses = await Promise.all(Array.from({ length: 100 }, () => post(client)));

    expect(responses.every((response) => response.statusCode === 202)).toBe(true);
    expect(upstream.requestsTo(HEALTHY)).toHaveLength(100);
    const statistics = new Map(client.statistics().map((entry) => [entry.address, entry]));
    // Traffic left the bad addresses: at most one failed connection per pooled connection, then probes.
    expect(statistics.get(REFUSING)!.failures).toBeLessThanOrEqual(10);
    expect(statistics.get(BLACK_HOLE)!.failures).toBeLessThanOrEqual(10);
    expect(statistics.get(HEALTHY)!.requests).toBe(100);
    expect(statistics.get(REFUSING)!.healthy).toBe(false);
    expect(statistics.get(HEALTHY)!.healthy).toBe(true);
    console.log(
      `[failover] 100 requests: ${[...statistics.values()].map((s) => `${s.address} tried ${s.requests} failed ${s.failures}`).join('; ')}`,
    );
  });

  it('sends traffic to an address again once it recovers', async () => {
    await upstream.refuse(REFUSING);
    const client = clientFor({ UPSTREAM_CONNECTION_TTL_MS: '200' });
    for (let index = 0; index < 10; index++) await post(client);
    expect(upstream.requestsTo(REFUSING)).toHaveLength(0);

    await upstream.serve(REFUSING);
    await waitFor('traffic on the recovered address', async () => {
      await post(client);
      return upstream.requestsTo(REFUSING).length > 0 ? true : undefined;
    });
    expect(client.statistics().find((entry) => entry.address === REFUSING)!.healthy).toBe(true);
  });

  it('follows a DNS change', async () => {
    resolver.set(HOSTNAME, [REFUSING]);
    const client = clientFor();
    await post(client);
    expect(upstream.requestsTo(REFUSING)).toHaveLength(1);

    resolver.set(HOSTNAME, [HEALTHY]);
    await waitFor('the new address to be used', async () => {
      await post(client);
      return upstream.requestsTo(HEALTHY).length > 0 ? true : undefined;
    });
    const before = upstream.requestsTo(REFUSING).length;
    for (let index = 0; index < 5; index++) await post(client);
    expect(upstream.requestsTo(REFUSING)).toHaveLength(before);
    expect(resolver.lookups).toBeGreaterThanOrEqual(2);
  });

  it('answers "unavailable" (retryable, never sent) when every address is down', async () => {
    for (const address of ALL) await upstream.refuse(address);
    const client = clientFor();
    await expect(post(client)).rejects.toBeInstanceOf(UpstreamUnavailableException);
  });

  it('refuses a certificate for another hostname, on every address', async () => {
    await upstream.close();
    upstream = await FakeUpstream.start(await authority.issue('other.example'), ALL);
    const client = clientFor();

    const error = await post(client).catch((failure: unknown) => failure);

    expect(error).toBeInstanceOf(UpstreamUnavailableException);
    expect((error as Error).message).toMatch(/altname|does not match|certificate/i);
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a certificate from an authority it does not trust', async () => {
    const client = clientFor({ UPSTREAM_CA_FILE: '' });
    const error = await post(client).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(UpstreamUnavailableException);
    expect((error as Error).message).toMatch(/certificate/i);
    expect(upstream.requests).toHaveLength(0);
  });

  it('never opens more connections than the cap, however many requests wait', async () => {
    upstream.handler = async (_request, response) => {
      await sleep(50);
      response.writeHead(202).end();
    };
    const client = clientFor({ UPSTREAM_MAX_CONNECTIONS: '4' });

    await Promise.all(Array.from({ length: 60 }, () => post(client)));

    expect(upstream.requests).toHaveLength(60);
    expect(upstream.maxOpenConnections).toBeLessThanOrEqual(4);
  });

  it("keeps to the lower of its own cap and the fleet budget, and to the host's message rate", async () => {
    const arrivals: number[] = [];
    upstream.handler = async (_request, response) => {
      arrivals.push(Date.now());
      await sleep(50);
      response.writeHead(202).end();
    };
    const client = clientFor({
      UPSTREAM_MAX_CONNECTIONS: '10',
      UPSTREAM_HOST_BUDGETS: `${HOSTNAME}=3:20`,
    });

    await Promise.all(Array.from({ length: 30 }, () => post(client)));

    expect(upstream.requests).toHaveLength(30);
    expect(upstream.maxOpenConnections).toBeLessThanOrEqual(3);
    // 20 messages per second: one send slot every 50 ms. The first requests wait for their
    // connections to open and arrive together; from then on they arrive a slot apart. Without the
    // rate, three connections would carry the 30 in ten rounds of 50 ms.
    const spanMs = arrivals[arrivals.length - 1] - arrivals[3];
    expect(spanMs).toBeGreaterThanOrEqual(26 * 50 * 0.8);
  });

  it('reports a connection dropped after the request was sent as outcome unknown, unless repeating is harmless', async () => {
    upstream.handler = (request, response) => {
      if (request.address === ALL[0]) response.socket?.destroy();
      else response.writeHead(202).end();
    };
    const client = clientFor();

    await expect(post(client, '{"n":1}')).rejects.toBeInstanceOf(UpstreamOutcomeUnknownException);
    expect(upstream.requestsTo(ALL[0])).toHaveLength(1);

    // The same drop with an idempotent request moves on to the next address and succeeds.
    upstream.requests.length = 0;
    await sleep(250); // the dropped address's cool-down ends
    const responses = [];
    for (let index = 0; index < 3; index++) responses.push(await post(client, '{"n":2}', true));
    expect(responses.every((response) => response.statusCode === 202)).toBe(true);
  });
});
