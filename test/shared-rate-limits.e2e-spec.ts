import { ServiceError, status } from '@grpc/grpc-js';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TestDatabase,
  TEST_API_KEY,
  testRedisUrl,
  uniqueRedisPrefix,
} from '@mailgateway/testing';

const LIMIT = 50;

/** Outcome counts of calls that either succeed or fail with a gRPC status. */
async function tally(calls: Promise<unknown>[]): Promise<Record<string, number>> {
  const outcomes = await Promise.all(
    calls.map((call) =>
      call.then(
        () => 'OK',
        (error: ServiceError) => status[error.code],
      ),
    ),
  );
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

/** Gateway processes as replicas: one Redis key space for their counters, a client for each. */
class Replicas {
  readonly clients: MailGatewayClient[] = [];
  private readonly gateways: GatewayProcess[] = [];
  private redis?: { REDIS_URL: string; REDIS_KEY_PREFIX: string };

  /** Starts a replica on `database`, with delivery off and `env` on top. */
  async start(database: TestDatabase, env: Record<string, string>): Promise<void> {
    this.redis ??= { REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: uniqueRedisPrefix() };
    const port = await freePort();
    this.gateways.push(
      await GatewayProcess.start({
        ...database.env,
        ...this.redis,
        GRPC_PORT: String(port),
        DELIVERY_ENABLED: 'false',
        // The suite is about sharing, not about Redis failing: on a loaded machine a check may take
        // longer than the default 200 ms, and a timed-out check lets its call through (fail open).
        REDIS_COMMAND_TIMEOUT_MS: '5000',
        ...env,
      }),
    );
    this.clients.push(new MailGatewayClient({ address: `127.0.0.1:${port}`, apiKey: TEST_API_KEY }));
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.all(this.gateways.map((gateway) => gateway.crash()));
  }
}

// Two real gateway processes, as two Kubernetes replicas, sharing one Redis for their counters.
describe.each(DATABASE_KINDS)('Rate limits shared by two gateway processes through Redis on %s', (kind) => {
  const databases: TestDatabase[] = [];
  const replicas = new Replicas();

  beforeAll(async () => {
    const shared = await provisionTestDatabase(kind);
    databases.push(shared);
    for (let replica = 0; replica < 2; replica++) {
      // SQLite is one process's file: each replica gets its own; PostgreSQL replicas share one database.
      const database = kind === 'sqlite' && replica > 0 ? await provisionTestDatabase(kind) : shared;
      if (database !== shared) databases.push(database);
      await replicas.start(database, {
        RATE_LIMIT_WINDOW_MS: '60000',
        RATE_LIMIT_SOURCE_MESSAGES: String(LIMIT),
      });
    }
  });

  afterAll(async () => {
    await replicas.stop();
    for (const database of databases) await database.drop();
  });

  it(`accepts exactly ${LIMIT} of ${3 * LIMIT} concurrent calls spread over both processes (no overshoot)`, async () => {
    const counts = await tally(
      Array.from({ length: 3 * LIMIT }, (_, index) =>
        replicas.clients[index % 2].sendMail(aSendMailRequest()),
      ),
    );
    process.stdout.write(
      `[${kind}] two processes, limit ${LIMIT}: ${JSON.stringify(counts)}; overshoot ${(counts.OK ?? 0) - LIMIT}\n`,
    );
    expect(counts).toEqual({ OK: LIMIT, RESOURCE_EXHAUSTED: 2 * LIMIT });
  });

  it('holds the same budget for batches: the window is spent, so every batch is refused', async () => {
    const counts = await tally(
      Array.from({ length: 10 }, (_, index) =>
        replicas.clients[index % 2].sendMailBatch({ items: [aSendMailRequest(), aSendMailRequest()] }),
      ),
    );
    expect(counts).toEqual({ RESOURCE_EXHAUSTED: 10 });
  });
});

describe('Rate limits shared by two processes: batches', () => {
  let database: TestDatabase;
  const replicas = new Replicas();

  beforeAll(async () => {
    database = await provisionTestDatabase('postgres');
    for (let replica = 0; replica < 2; replica++) {
      await replicas.start(database, { RATE_LIMIT_SOURCE_MESSAGES: String(LIMIT) });
    }
  });

  afterAll(async () => {
    await replicas.stop();
    await database?.drop();
  });

  it(`accepts exactly ${LIMIT / 5} concurrent batches of 5 over both processes`, async () => {
    const counts = await tally(
      Array.from({ length: 40 }, (_, index) =>
        replicas.clients[index % 2].sendMailBatch({
          items: Array.from({ length: 5 }, () => aSendMailRequest()),
        }),
      ),
    );
    expect(counts).toEqual({ OK: LIMIT / 5, RESOURCE_EXHAUSTED: 40 - LIMIT / 5 });
  });
});
