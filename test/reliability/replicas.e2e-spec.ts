import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import { MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  sendUntilAcknowledged,
  TestDatabase,
  waitFor,
  TEST_API_KEY,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { sized } from './reliability-scale';

const MESSAGES = sized(1_000, 10_000);
const PAUSED_MESSAGES = 20;

// Scenario 5: three gateway processes on one PostgreSQL outbox.
describe('Reliability: three processes on one PostgreSQL', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let scratch: string;
  const gateways: GatewayProcess[] = [];
  const clients: MailGatewayClient[] = [];

  const startGateway = async (upstreamLog: string, env: Record<string, string> = {}) => {
    const port = await freePort();
    gateways.push(
      await GatewayProcess.start({
        ...database.env,
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        DELIVERY_POLL_INTERVAL_MS: '20',
        ...env,
      }),
    );
    const client = new MailGatewayClient({
      address: `127.0.0.1:${port}`,
      apiKey: TEST_API_KEY,
      retry: { maxAttempts: 1 },
    });
    clients.push(client);
    return client;
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
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-reliability-replicas-'));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const gateway of gateways.splice(0)) {
      gateway.kill('SIGCONT');
      await gateway.crash();
    }
    await dataSource.destroy();
    await database.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    `delivers ${MESSAGES} messages sent to three processes with no duplicate`,
    async () => {
      const upstreamLog = join(scratch, 'upstream.jsonl');
      const replicas = await Promise.all([0, 1, 2].map(() => startGateway(upstreamLog)));
      const ledger = new OutcomeLedger();
      await sendUntilAcknowledged({
        keys: Array.from({ length: MESSAGES }, (_, index) => `replicas-${index}`),
        request: (key) => aSendMailRequest({ subject: key }, key),
        send: (request, caller) => replicas[caller % replicas.length].sendMail(request),
        ledger,
        callers: 12,
        deadline: Date.now() + 300_000,
      });
      await waitFor(
        'every message to be delivered',
        async () => ((await countByStatus('delivered')) === MESSAGES ? true : undefined),
        { timeoutMs: 300_000, intervalMs: 500 },
      );

      const records = await readSandboxLog(upstreamLog);
      const figures = ledger.figures(records.map((record) => record.messageId));
      const perProcess = new Map<number, number>();
      for (const { pid } of records) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
      console.log(
        formatFigures('5 three processes', figures, {
          messages: MESSAGES,
          'deliveries per process': [...perProcess.values()].join('/'),
        }),
      );
      expect(figures.lost).toBe(0);
      expect(figures.duplicates).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(perProcess.size).toBe(3);
    },
    sized(120_000, 600_000),
  );

  it('fences off a process paused past its lease: its late outcomes overwrite nothing', async () => {
    const upstreamLog = join(scratch, 'upstream.jsonl');
    const paused = await startGateway(upstreamLog, {
      SANDBOX_LATENCY_MS: '3000',
      DELIVERY_LEASE_MS: '1000',
      DELIVERY_CONCURRENCY: String(PAUSED_MESSAGES),
    });
    const ledger = new OutcomeLedger();
    await sendUntilAcknowledged({
      keys: Array.from({ length: PAUSED_MESSAGES }, (_, index) => `fenced-${index}`),
      request: (key) => aSendMailRequest({ subject: key }, key),
      send: (request) => paused.sendMail(request),
      ledger,
      callers: 4,
      deadline: Date.now() + 30_000,
    });
    await waitFor('the first process to claim every message', async () =>
      (await countByStatus('sending')) === PAUSED_MESSAGES ? true : undefined,
    );
    const pausedProcess = gateways[0];
    pausedProcess.kill('SIGSTOP');
    const successor = await startGateway(upstreamLog);
    await waitFor('the second process to deliver every message', async () =>
      (await countByStatus('delivered')) === PAUSED_MESSAGES ? true : undefined,
    );
    pausedProcess.kill('SIGCONT');
    await waitFor('the paused process to finish its stale attempts', () =>
      (pausedProcess.logs.match(/outcome dropped, a newer claim owns it/g) ?? []).length === PAUSED_MESSAGES
        ? true
        : undefined,
    );

    let staleOverwrites = 0;
    for (const messageId of ledger.acknowledged.values()) {
      const message = await successor.getMessage({ messageId });
      expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
      staleOverwrites += message.events.filter(
        (event) =>
          event.attempt === 1 &&
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED &&
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      ).length;
    }
    const figures = ledger.figures((await readSandboxLog(upstreamLog)).map((record) => record.messageId));
    console.log(
      formatFigures('5 paused past its lease', figures, {
        'stale overwrites': staleOverwrites,
        'in flight when paused': PAUSED_MESSAGES,
      }),
    );
    expect(staleOverwrites).toBe(0);
    expect(figures.lost).toBe(0);
    expect(figures.unexpected).toBe(0);
    expect(figures.duplicates).toBeLessThanOrEqual(PAUSED_MESSAGES);
  });
});
