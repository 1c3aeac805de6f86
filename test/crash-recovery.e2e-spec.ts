import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  freePort,
  GatewayProcess,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  TestDatabase,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';

const MESSAGES = 300;
const CALLERS = 20;
const CONCURRENCY = 10;

/** Message ids the sandbox "upstream" received, one per delivery. */
async function upstreamDeliveries(path: string): Promise<string[]> {
  return (await readSandboxLog(path)).map((record) => record.messageId);
}

describe.each(DATABASE_KINDS)('kill -9 during delivery on %s', (kind) => {
  let database: TestDatabase;
  let gateway: GatewayProcess | undefined;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
  });

  afterAll(async () => {
    if (gateway) await gateway.crash();
    await dataSource?.destroy();
    await database.drop();
  });

  it('loses no acknowledged message: all reach a final state after restart', async () => {
    const port = await freePort();
    const scratch = await mkdtemp(join(tmpdir(), 'mailgateway-crash-'));
    const env = {
      ...database.env,
      GRPC_PORT: String(port),
      SANDBOX_OUTPUT_PATH: join(scratch, 'upstream.jsonl'),
      SANDBOX_LATENCY_MS: '100',
      DELIVERY_CONCURRENCY: String(CONCURRENCY),
      DELIVERY_LEASE_MS: '1500',
      DELIVERY_POLL_INTERVAL_MS: '20',
      RETRY_BASE_DELAY_MS: '20',
    };
    const client = new MailGatewayClient({
      address: `127.0.0.1:${port}`,
      apiKey: TEST_API_KEY,
      deadlineMs: 5_000,
    });
    const acknowledged = new Map<string, string>(); // idempotency key -> message id
    const keys = Array.from({ length: MESSAGES }, (_, index) => `crash-${kind}-${index}`);
    const sendAll = async (pending: string[]) => {
      const queue = [...pending];
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          for (let key = queue.shift(); key; key = queue.shift()) {
            try {
              const { messageId } = await client.sendMail(aSendMailRequest({ subject: key }, key));
              acknowledged.set(key, messageId);
            } catch {
              // Unknown outcome: the caller retries this key later with the same content.
            }
          }
        }),
      );
    };

    gateway = await GatewayProcess.start(env);
    const firstRun = sendAll(keys);
    await waitFor('deliveries to be under way', async () =>
      acknowledged.size >= 100 && (await upstreamDeliveries(env.SANDBOX_OUTPUT_PATH)).length >= 20
        ? true
        : undefined,
    );
    await gateway.crash();
    const acknowledgedAtKill = acknowledged.size;
    await firstRun;

    dataSource = await openTestDataSource(database.env);
    const [{ count: inFlightAtKill }] = await dataSource.query(
      "SELECT COUNT(*) AS count FROM outbox_message WHERE status = 'sending'",
    );

    gateway = await GatewayProcess.start(env);
    while (acknowledged.size < MESSAGES) await sendAll(keys.filter((key) => !acknowledged.has(key)));

    const ids = [...acknowledged.values()];
    await waitFor(
      'every acknowledged message to reach a final state',
      async () => {
        const rows: { status: string; count: string | number }[] = await dataSource.query(
          'SELECT status, COUNT(*) AS count FROM outbox_message GROUP BY status',
        );
        const delivered = rows.find((row) => row.status === 'delivered');
        return Number(delivered?.count ?? 0) === MESSAGES ? rows : undefined;
      },
      { timeoutMs: 45_000 },
    );
    const received = await upstreamDeliveries(env.SANDBOX_OUTPUT_PATH);
    const receivedCounts = new Map<string, number>();
    for (const id of received) receivedCounts.set(id, (receivedCounts.get(id) ?? 0) + 1);
    const lost = ids.filter((id) => !receivedCounts.has(id)).length;
    const duplicates = [...receivedCounts.values()].filter((count) => count > 1).length;
    const unexpected = [...receivedCounts.keys()].filter((id) => !ids.includes(id)).length;
    client.close();

    console.log(
      `[crash ${kind}] messages=${MESSAGES} acknowledged at kill=${acknowledgedAtKill} in flight at kill=${inFlightAtKill} ` +
        `upstream deliveries=${received.length} lost=${lost} duplicates=${duplicates} unexpected=${unexpected}`,
    );
    expect(new Set(ids).size).toBe(MESSAGES);
    expect(lost).toBe(0);
    expect(unexpected).toBe(0);
    // A message is delivered twice only if it was in flight when the process died.
    expect(duplicates).toBeLessThanOrEqual(Number(inFlightAtKill));
    expect(Number(inFlightAtKill)).toBeLessThanOrEqual(CONCURRENCY);
  });
});
