import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import { MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  FakeUpstream,
  formatFigures,
  freePort,
  GatewayProcess,
  HeldAnswer,
  OutcomeLedger,
  openTestDataSource,
  provisionTestDatabase,
  readSandboxLog,
  RecordedRequest,
  sendUntilAcknowledged,
  TestCertificateAuthority,
  TestDatabase,
  UpstreamHold,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { singleAttemptClient } from '../support/single-attempt-client';
import { sized } from './reliability-scale';

const MESSAGES = sized(1_000, 10_000);
const PAUSED_MESSAGES = 20;
const UPSTREAM_HOST = 'fencing.upstream.test';

/** The attempt number the http driver puts in each request body. */
const attemptOf = (request: RecordedRequest): number =>
  (JSON.parse(request.body) as { attempt: number }).attempt;
const messageIdOf = (request: RecordedRequest): string => String(request.headers['idempotency-key']);
/** The provider id the upstream hands out for an attempt: says whose outcome a row holds. */
const providerIdOf = (attempt: number, messageId: string) => `attempt-${attempt}-${messageId}`;

// Scenario 5: three gateway processes on one PostgreSQL outbox.
describe('Reliability: three processes on one PostgreSQL', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let scratch: string;
  let upstream: FakeUpstream | undefined;
  let hold: UpstreamHold | undefined;
  const gateways: GatewayProcess[] = [];
  const clients: MailGatewayClient[] = [];

  const startGateway = async (env: Record<string, string>) => {
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
      ...env,
    });
    gateways.push(gateway);
    const client = singleAttemptClient(`127.0.0.1:${port}`);
    clients.push(client);
    return { gateway, client };
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
    hold?.abandon();
    await upstream?.close();
    upstream = hold = undefined;
    await dataSource.destroy();
    await database.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    `delivers ${MESSAGES} messages sent to three processes with no message claimed or delivered twice`,
    async () => {
      const upstreamLog = join(scratch, 'upstream.jsonl');
      const replicas = await Promise.all(
        [0, 1, 2].map(() => startGateway({ SANDBOX_OUTPUT_PATH: upstreamLog })),
      );
      const ledger = new OutcomeLedger();
      await sendUntilAcknowledged({
        keys: Array.from({ length: MESSAGES }, (_, index) => `replicas-${index}`),
        request: (key) => aSendMailRequest({ subject: key }, key),
        send: (request, caller) => replicas[caller % replicas.length].client.sendMail(request),
        ledger,
        callers: 12,
        deadline: Date.now() + 300_000,
      });
      expect(ledger.acknowledged.size).toBe(MESSAGES);
      await waitFor(
        'every message to be delivered',
        async () => ((await countByStatus('delivered')) === MESSAGES ? true : undefined),
        { timeoutMs: 300_000, intervalMs: 500 },
      );

      const records = await readSandboxLog(upstreamLog);
      const figures = ledger.figures(records.map((record) => record.messageId));
      // Each claim writes an attempt_started event: a message claimed by two processes has two.
      const [{ claims, doubled }] = await dataSource.query(
        'SELECT COUNT(*) AS claims, COUNT(*) - COUNT(DISTINCT message_id) AS doubled FROM message_event WHERE type = $1',
        ['attempt_started'],
      );
      const perProcess = new Map<number, number>();
      for (const { pid } of records) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
      console.log(
        formatFigures('5 three processes', figures, {
          messages: MESSAGES,
          claims: Number(claims),
          'duplicate claims': Number(doubled),
          'deliveries per process': [...perProcess.values()].join('/'),
        }),
      );
      expect(ledger.idempotencyConflicts).toEqual([]);
      expect(figures.lost).toBe(0);
      expect(figures.duplicates).toBe(0);
      expect(figures.unexpected).toBe(0);
      expect(records).toHaveLength(MESSAGES);
      expect(Number(claims)).toBe(MESSAGES);
      expect(Number(doubled)).toBe(0);
      expect(perProcess.size).toBe(3);
    },
    sized(120_000, 600_000),
  );

  it('fences off a process paused past its lease and resumed mid-attempt of its successor: its late outcomes record nothing', async () => {
    // The http driver against an upstream that answers only when told: both processes' attempts
    // wait there, so the paused process resumes and settles while its successor's are in flight.
    const authority = await TestCertificateAuthority.create();
    const caFile = await authority.writePem(join(scratch, 'ca.pem'));
    upstream = await FakeUpstream.start(await authority.issue(UPSTREAM_HOST), ['127.0.0.1']);
    hold = new UpstreamHold();
    upstream.handler = hold.handler;
    const httpDriverEnv = {
      MAIL_DRIVER: 'http',
      HTTP_DRIVER_URL: `https://${UPSTREAM_HOST}:${upstream.port}/v1/messages`,
      UPSTREAM_ADDRESSES: `${UPSTREAM_HOST}=127.0.0.1`,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_CA_FILE: caFile,
      UPSTREAM_MAX_CONNECTIONS: String(PAUSED_MESSAGES),
      // Both processes hold all their attempts open at the upstream at once.
      UPSTREAM_FLEET_MAX_CONNECTIONS: String(2 * PAUSED_MESSAGES),
      // Held answers are not timeouts: the pause must not end the paused process's requests.
      UPSTREAM_HEADERS_TIMEOUT_MS: '600000',
      DELIVERY_CONCURRENCY: String(PAUSED_MESSAGES),
    };
    const accept: HeldAnswer = (request, response) =>
      void response
        .writeHead(202, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: providerIdOf(attemptOf(request), messageIdOf(request)) }));
    const heldAttempts = (attempt: number) => hold!.waiting((request) => attemptOf(request) === attempt);

    // Every message is committed before the first process delivers, so it claims them together
    // and has them all in flight well within its 1 s lease. Were they to trickle in, a slow machine
    // could see it re-claim a message whose lease ran out while a slot was still free.
    const acceptor = await startGateway({ DELIVERY_ENABLED: 'false' });
    const ledger = new OutcomeLedger();
    await sendUntilAcknowledged({
      keys: Array.from({ length: PAUSED_MESSAGES }, (_, index) => `fenced-${index}`),
      request: (key) => aSendMailRequest({ subject: key }, key),
      send: (request) => acceptor.client.sendMail(request),
      ledger,
      callers: 4,
      deadline: Date.now() + 30_000,
    });
    expect(ledger.acknowledged.size).toBe(PAUSED_MESSAGES);
    acceptor.gateway.kill('SIGTERM');
    await acceptor.gateway.exited;
    const paused = await startGateway({ ...httpDriverEnv, DELIVERY_LEASE_MS: '1000' });
    await waitFor('the first process to have every message in flight at the upstream', () =>
      heldAttempts(1).length === PAUSED_MESSAGES ? true : undefined,
    );
    paused.gateway.kill('SIGSTOP');

    // The successor claims once the 1 s lease has run out (its own lease is the default 60 s).
    const successor = await startGateway(httpDriverEnv);
    await waitFor(
      "the successor's attempts to be in flight at the upstream",
      () => (heldAttempts(2).length === PAUSED_MESSAGES ? true : undefined),
      { timeoutMs: 30_000 },
    );
    // The upstream takes the paused process's messages; the answers wait in its sockets.
    expect(hold.release((request) => attemptOf(request) === 1, accept)).toBe(PAUSED_MESSAGES);
    paused.gateway.kill('SIGCONT');
    const pausedReports = await waitFor('the paused process to settle every attempt it had', () => {
      const reports = paused.gateway.logLines.filter((line) => line.msg === 'delivery attempt');
      return reports.length >= PAUSED_MESSAGES ? reports : undefined;
    });
    // The successor's attempts are still in flight: its rows must still be sending, untouched.
    expect(heldAttempts(2)).toHaveLength(PAUSED_MESSAGES);
    const sendingAfterStaleOutcomes = await countByStatus('sending');
    expect(hold.release((request) => attemptOf(request) === 2, accept)).toBe(PAUSED_MESSAGES);
    await waitFor('the successor to deliver every message', async () =>
      (await countByStatus('delivered')) === PAUSED_MESSAGES ? true : undefined,
    );

    let staleOverwrites = 0;
    let staleProviderIds = 0;
    for (const messageId of ledger.acknowledged.values()) {
      const message = await successor.client.getMessage({ messageId });
      expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
      expect(message.attempts).toBe(2);
      staleOverwrites += message.events.filter(
        (event) =>
          event.attempt === 1 &&
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED &&
          event.type !== MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      ).length;
      if (message.providerMessageId !== providerIdOf(2, messageId)) staleProviderIds++;
    }
    const recordedByPaused = pausedReports.filter((report) => report.recorded !== false).length;
    const droppedIn = (logs: string) => (logs.match(/outcome dropped, a newer claim owns it/g) ?? []).length;
    // Log lines reach stdout in batches (within 100 ms): wait for the paused process's to arrive.
    const droppedByPaused = await waitFor('the paused process to log its dropped outcomes', () => {
      const dropped = droppedIn(paused.gateway.logs);
      return dropped >= PAUSED_MESSAGES ? dropped : undefined;
    }).catch(() => droppedIn(paused.gateway.logs));
    const droppedBySuccessor = droppedIn(successor.gateway.logs);
    const requests = upstream.requests;
    const requestsPerAttempt = new Map<string, number>();
    for (const request of requests) {
      const key = `${messageIdOf(request)}#${attemptOf(request)}`;
      requestsPerAttempt.set(key, (requestsPerAttempt.get(key) ?? 0) + 1);
    }
    const figures = ledger.figures(requests.map(messageIdOf));
    console.log(
      formatFigures('5 paused past its lease', figures, {
        'in flight when paused': PAUSED_MESSAGES,
        'stale overwrites': staleOverwrites,
        'stale provider ids': staleProviderIds,
        'outcomes recorded by the paused process': recordedByPaused,
        'outcomes dropped by the paused process': droppedByPaused,
        'outcomes dropped by the successor': droppedBySuccessor,
        'sending after the stale outcomes': sendingAfterStaleOutcomes,
      }),
    );
    expect(sendingAfterStaleOutcomes).toBe(PAUSED_MESSAGES);
    expect(staleOverwrites).toBe(0);
    expect(staleProviderIds).toBe(0);
    expect(pausedReports).toHaveLength(PAUSED_MESSAGES);
    expect(recordedByPaused).toBe(0);
    expect(droppedByPaused).toBe(PAUSED_MESSAGES);
    expect(droppedBySuccessor).toBe(0);
    expect(figures.lost).toBe(0);
    expect(figures.unexpected).toBe(0);
    // The in-flight window: each message went out once per attempt, and there were two.
    expect(figures.duplicates).toBeLessThanOrEqual(PAUSED_MESSAGES);
    expect(requests).toHaveLength(2 * PAUSED_MESSAGES);
    expect([...requestsPerAttempt.values()].every((count) => count === 1)).toBe(true);
  }, 90_000);
});
