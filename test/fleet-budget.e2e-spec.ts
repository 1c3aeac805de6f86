import { setTimeout as sleep } from 'node:timers/promises';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  FakeUpstream,
  freePort,
  GatewayProcess,
  httpGet,
  openTestDataSource,
  provisionTestDatabase,
  sampleValue,
  testRedisUrl,
  TestCertificateAuthority,
  TestDatabase,
  uniqueRedisPrefix,
  waitFor,
} from '@mailgateway/testing';
import type { DataSource } from 'typeorm';
import { singleAttemptClient } from './support/single-attempt-client';

const HOST = 'fleet.upstream.test';
const BUDGET = 6;
const MESSAGES = 900;
const HEARTBEAT_TTL_MS = 1_500;

/** The upstream's open connections, sampled often: the most seen at once, over windows of the run. */
class ConnectionWatch {
  most = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly upstream: FakeUpstream) {
    this.timer = setInterval(() => this.sample(), 5);
  }

  get now(): number {
    return this.upstream.openConnectionCount;
  }

  /** The most seen since the last call (the server's own count, every change included). */
  takeWindow(): number {
    const most = Math.max(this.most, this.upstream.maxOpenConnections);
    this.most = 0;
    this.upstream.maxOpenConnections = this.upstream.openConnectionCount;
    return most;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    this.most = Math.max(this.most, this.upstream.openConnectionCount);
  }
}

// Three gateway processes on one PostgreSQL deliver through the http driver to one slow HTTPS
// upstream that counts its open connections. Each process may open 10 (UPSTREAM_MAX_CONNECTIONS);
// the fleet-wide budget is 6, shared through Redis or through the database. Not on SQLite: the
// gateway keeps SQLite for one process (it migrates on start, unlocked, and three processes
// accepting on one file fail with "database is locked"), so the database store's SQLite form is
// covered by the stores' integration suite within one process.
// The upstream answers in 200-300 ms, so six connections carry about 24 messages a second: the
// budget, not this machine's CPU, is what limits delivery.
describe.each(['redis', 'database'] as const)(
  'The fleet-wide connection budget, shared through %s',
  (store) => {
    let database: TestDatabase;
    let dataSource: DataSource;
    let authority: TestCertificateAuthority;
    let caFile: string;
    let upstream: FakeUpstream;
    const gateways: GatewayProcess[] = [];
    const clients: MailGatewayClient[] = [];

    beforeAll(async () => {
      authority = await TestCertificateAuthority.create();
      caFile = await authority.writeTemporaryPem();
    });

    beforeEach(async () => {
      database = await provisionTestDatabase('postgres');
      dataSource = await openTestDataSource(database.env);
      upstream = await FakeUpstream.start(await authority.issue(HOST), ['127.0.0.1']);
      upstream.handler = async (_request, response) => {
        await sleep(200 + Math.random() * 100);
        response.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"accepted"}');
      };
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      for (const gateway of gateways.splice(0)) await gateway.crash();
      await upstream.close();
      await dataSource.destroy();
      await database.drop();
    });

    const startReplica = async (env: Record<string, string>) => {
      const port = await freePort();
      const gateway = await GatewayProcess.start({
        ...database.env,
        ...env,
        GRPC_PORT: String(port),
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HOST}:${upstream.port}/v1/messages`,
        UPSTREAM_ADDRESSES: `${HOST}=127.0.0.1`,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_MAX_CONNECTIONS: '10',
        UPSTREAM_FLEET_MAX_CONNECTIONS: String(BUDGET),
        UPSTREAM_FLEET_HEARTBEAT_MS: '250',
        UPSTREAM_FLEET_HEARTBEAT_TTL_MS: String(HEARTBEAT_TTL_MS),
        // Connections are retired after 2 s, so shares move between replicas while the run lasts.
        UPSTREAM_CONNECTION_TTL_MS: '2000',
        UPSTREAM_BUDGET_MAX_WAIT_MS: '2000',
        DELIVERY_CONCURRENCY: '10',
        DELIVERY_POLL_INTERVAL_MS: '20',
        // The killed replica's claims come back after this.
        DELIVERY_LEASE_MS: '5000',
      });
      gateways.push(gateway);
      const client = singleAttemptClient(`127.0.0.1:${port}`);
      clients.push(client);
      return { gateway, client };
    };

    const delivered = async () => {
      const [{ count }] = await dataSource.query(
        `SELECT COUNT(*) AS count FROM outbox_message WHERE status = 'delivered'`,
      );
      return Number(count);
    };

    const metrics = async (gateway: GatewayProcess) => (await httpGet(`${gateway.metricsUrl}/metrics`)).body;
    const deliveredBy = async (gateway: GatewayProcess) =>
      sampleValue(await metrics(gateway), 'mailgateway_messages_delivered_total', { provider: 'http' }) ?? 0;

    it(`keeps three replicas within ${BUDGET} connections together, uses all of them, and gives a dead replica's share to the others once its heartbeat expires`, async () => {
      const env: Record<string, string> =
        store === 'redis' ? { REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {};
      const replicas = [];
      for (let index = 0; index < 3; index++) replicas.push(await startReplica(env));
      const watch = new ConnectionWatch(upstream);
      try {
        for (let sent = 0; sent < MESSAGES; sent += 300) {
          const { results } = await replicas[0].client.sendMailBatch({
            items: Array.from({ length: 300 }, (_, index) =>
              aSendMailRequest({ subject: `m${sent + index}` }),
            ),
          });
          expect(results.every((result) => result.accepted)).toBe(true);
        }

        // Three replicas, each with work for all ten of its connections.
        await waitFor(
          'a third of the messages to be delivered',
          async () => ((await delivered()) >= MESSAGES / 3 ? true : undefined),
          { timeoutMs: 120_000, intervalMs: 200 },
        );
        const mostWithThree = watch.takeWindow();
        const perReplica = await Promise.all(replicas.map(({ gateway }) => deliveredBy(gateway)));
        const shares = await Promise.all(
          replicas.map(
            async ({ gateway }) =>
              sampleValue(await metrics(gateway), 'mailgateway_upstream_connection_share', { host: HOST }) ??
              0,
          ),
        );

        // A replica dies holding its share: until its heartbeat expires the others may not have it.
        const deadHeld =
          sampleValue(await metrics(replicas[2].gateway), 'mailgateway_upstream_connections', {
            host: HOST,
          }) ?? 0;
        await replicas[2].gateway.crash();
        const killedAt = Date.now();
        await sleep(300);
        const mostAroundKill = watch.takeWindow();
        // Its last heartbeat was at most UPSTREAM_FLEET_HEARTBEAT_MS before the kill.
        await sleep(HEARTBEAT_TTL_MS - 300 - 300);
        const mostWhileDeadCounted = watch.takeWindow();
        await waitFor(
          'the two left to use the whole budget',
          () => (watch.now >= BUDGET ? true : undefined),
          {
            intervalMs: 2,
            timeoutMs: 30_000,
          },
        );
        const rebalancedMs = Date.now() - killedAt;
        const mostRebalancing = watch.takeWindow();

        await waitFor(
          'every message to be delivered',
          async () => ((await delivered()) === MESSAGES ? true : undefined),
          { timeoutMs: 120_000, intervalMs: 200 },
        );
        const mostWithTwo = watch.takeWindow();
        const survivorShares = await Promise.all(
          replicas.slice(0, 2).map(
            async ({ gateway }) =>
              sampleValue(await metrics(gateway), 'mailgateway_upstream_connection_share', {
                host: HOST,
              }) ?? 0,
          ),
        );
        console.log(
          `[fleet budget, ${store}] budget ${BUDGET}, UPSTREAM_MAX_CONNECTIONS 10 per process; ` +
            `most open at the upstream: ${mostWithThree} with three replicas (shares ${shares.join('/')}), ` +
            `${mostWhileDeadCounted} while the dead one's ${deadHeld} still counted, ${mostWithTwo} with two (shares ${survivorShares.join('/')}); ` +
            `delivered per replica before the kill ${perReplica.join('/')}; ` +
            `whole budget in use again ${rebalancedMs} ms after the kill (heartbeat TTL ${HEARTBEAT_TTL_MS} ms); ` +
            `${upstream.connectionsOpened} connections opened, ${upstream.requests.length} requests for ${MESSAGES} messages`,
        );

        const most = Math.max(
          mostWithThree,
          mostAroundKill,
          mostWhileDeadCounted,
          mostRebalancing,
          mostWithTwo,
        );
        expect(most).toBeLessThanOrEqual(BUDGET);
        // Until its heartbeat expires the dead replica still counts, and is owed its share (it was
        // waiting for more): the two others keep to theirs.
        expect(mostWhileDeadCounted).toBeLessThanOrEqual(BUDGET - BUDGET / 3);
        expect(mostWithThree).toBe(BUDGET);
        expect(mostWithTwo).toBe(BUDGET);
        expect(perReplica.every((count) => count > 0)).toBe(true);
        expect(shares.reduce((sum, share) => sum + share, 0)).toBe(BUDGET);
        expect(survivorShares).toEqual([BUDGET / 2, BUDGET / 2]);
      } finally {
        watch.stop();
      }
    }, 240_000);
  },
);
