import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import { MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  deliveriesPerMessage,
  freePort,
  GatewayProcess,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';

describe('Several gateway processes on one PostgreSQL outbox', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let upstreamLog: string;
  const gateways: GatewayProcess[] = [];

  const startGateway = async (env: Record<string, string> = {}) => {
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      SANDBOX_OUTPUT_PATH: upstreamLog,
      DELIVERY_POLL_INTERVAL_MS: '20',
      ...env,
    });
    gateways.push(gateway);
    return {
      gateway,
      client: new MailGatewayClient({
        address: `127.0.0.1:${port}`,
        apiKey: TEST_API_KEY,
        deadlineMs: 30_000,
      }),
    };
  };

  const countByStatus = async (status: string) => {
    const [{ count }] = await dataSource.query(
      'SELECT COUNT(*) AS count FROM outbox_message WHERE status = $1',
      [status],
    );
    return Number(count);
  };

  beforeEach(async () => {
    database = await provisionTestDatabase('postgres');
    dataSource = await openTestDataSource(database.env);
    upstreamLog = join(await mkdtemp(join(tmpdir(), 'mailgateway-replicas-')), 'upstream.jsonl');
  });

  afterEach(async () => {
    for (const gateway of gateways.splice(0)) {
      gateway.kill('SIGCONT');
      await gateway.crash();
    }
    await dataSource.destroy();
    await database.drop();
  });

  it('delivers 10,000 messages through three processes with no message claimed twice', async () => {
    const replicas = await Promise.all([startGateway(), startGateway(), startGateway()]);
    const total = 10_000;
    for (let batch = 0; batch < total / 500; batch++) {
      const { client } = replicas[batch % replicas.length];
      const items = Array.from({ length: 500 }, (_, index) =>
        aSendMailRequest({ subject: `Bulk ${batch}-${index}` }),
      );
      const { results } = await client.sendMailBatch({ items });
      expect(results.every((result) => result.accepted)).toBe(true);
    }

    await waitFor(
      'every message to be delivered',
      async () => ((await countByStatus('delivered')) === total ? true : undefined),
      {
        timeoutMs: 120_000,
        intervalMs: 500,
      },
    );

    const records = await readSandboxLog(upstreamLog);
    const duplicates = [...deliveriesPerMessage(records).values()].filter((count) => count > 1).length;
    const [{ claims, doubled }] = await dataSource.query(
      `SELECT COUNT(*) AS claims, COUNT(*) - COUNT(DISTINCT message_id) AS doubled FROM message_event WHERE type = $1`,
      ['attempt_started'],
    );
    const perProcess = new Map<number, number>();
    for (const { pid } of records) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
    for (const { client } of replicas) client.close();

    console.log(
      `[replicas] messages=${total} upstream deliveries=${records.length} duplicates=${duplicates} ` +
        `claims=${claims} duplicate claims=${doubled} per process=${[...perProcess.values()].join('/')}`,
    );
    expect(records).toHaveLength(total);
    expect(duplicates).toBe(0);
    expect(Number(doubled)).toBe(0);
    expect(perProcess.size).toBe(3);
  });

  it('fences off a process paused past its lease: its late outcome overwrites nothing', async () => {
    const paused = await startGateway({
      SANDBOX_LATENCY_MS: '3000',
      DELIVERY_LEASE_MS: '1000',
      DELIVERY_CONCURRENCY: '20',
    });
    const ids: string[] = [];
    for (let index = 0; index < 20; index++)
      ids.push((await paused.client.sendMail(aSendMailRequest())).messageId);
    await waitFor('the first process to claim every message', async () =>
      (await countByStatus('sending')) === ids.length ? true : undefined,
    );

    paused.gateway.kill('SIGSTOP');
    const successor = await startGateway();
    await waitFor('the second process to deliver every message', async () =>
      (await countByStatus('delivered')) === ids.length ? true : undefined,
    );
    paused.gateway.kill('SIGCONT');
    await waitFor('the paused process to finish its stale attempts', () =>
      (paused.gateway.logs.match(/outcome dropped, a newer claim owns it/g) ?? []).length === ids.length
        ? true
        : undefined,
    );

    let staleOverwrites = 0;
    for (const messageId of ids) {
      const message = await successor.client.getMessage({ messageId });
      expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
      expect(message.attempts).toBe(2);
      const outcomes = message.events.filter(
        (event) =>
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED &&
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      );
      staleOverwrites += outcomes.filter((event) => event.attempt === 1).length;
    }
    const upstreamDuplicates = [...deliveriesPerMessage(await readSandboxLog(upstreamLog)).values()].filter(
      (count) => count > 1,
    ).length;
    paused.client.close();
    successor.client.close();

    console.log(
      `[fencing] messages=${ids.length} stale overwrites=${staleOverwrites} upstream duplicates (in-flight window)=${upstreamDuplicates}`,
    );
    expect(staleOverwrites).toBe(0);
  });
});
