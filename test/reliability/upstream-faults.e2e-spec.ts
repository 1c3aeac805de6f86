import { MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  FakeUpstream,
  formatFigures,
  OutcomeLedger,
  provisionTestDatabase,
  RecordedRequest,
  respondThenResetMidBody,
  sendUntilAcknowledged,
  StaticHostResolver,
  TestCertificateAuthority,
  TestDatabase,
} from '@mailgateway/testing';
import { singleAttemptClient } from '../support/single-attempt-client';
import { startTestGateway, TestGateway } from '../support/test-gateway';
import { sized } from './reliability-scale';

const HOSTNAME = 'faults.upstream.test';
const [REFUSING, BLACK_HOLE, SLOW, HEALTHY] = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const ADDRESSES = [REFUSING, BLACK_HOLE, SLOW, HEALTHY];
const MESSAGES = sized(300, 3_000);
const MAX_CONNECTIONS = 4;

/** What the upstream does with a message the first time it sees it (by the number in its subject). */
const FAULTS = [
  'none',
  '429',
  '500-then-503',
  'reset-mid-body',
  'dropped-after-accept',
  'permanent-422',
] as const;
type Fault = (typeof FAULTS)[number];

const faultOf = (index: number): Fault => FAULTS[index % FAULTS.length];

// Scenario 4: one address refusing, one black-holed, one slow; 429, 5xx, resets and permanent 4xx.
describe('Reliability: upstream fault mix', () => {
  let database: TestDatabase;
  let upstream: FakeUpstream;
  let gateway: TestGateway | undefined;

  beforeAll(async () => {
    const authority = await TestCertificateAuthority.create();
    const caFile = await authority.writeTemporaryPem();
    database = await provisionTestDatabase('sqlite');
    upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), ADDRESSES);
    await upstream.refuse(REFUSING);
    await upstream.blackHole(BLACK_HOLE);
    await upstream.slow(SLOW, 5_000);
    gateway = await startTestGateway(
      {
        ...database.env,
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/v1/messages`,
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        UPSTREAM_CONNECT_TIMEOUT_MS: '300',
        // The slow address answers after 5 s, past this: its requests end as unknown outcomes and
        // it cools down like a failing address (with a longer timeout, see docs/reliability.md).
        UPSTREAM_HEADERS_TIMEOUT_MS: '2000',
        UPSTREAM_COOLDOWN_MS: '500',
        DELIVERY_CONCURRENCY: '20',
        RETRY_BASE_DELAY_MS: '20',
        RETRY_MAX_DELAY_MS: '2000',
      },
      { resolver: new StaticHostResolver().set(HOSTNAME, ADDRESSES) },
    );
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await database?.drop();
  });

  it(
    `brings ${MESSAGES} acknowledged messages to a final state through every fault`,
    async () => {
      const seen = new Set<string>();
      const permanentAnswers = new Map<string, number>(); // 422s that reached an open connection
      const accepted: string[] = []; // message id of each request the upstream took (2xx decided)
      upstream.handler = (request, response) => {
        const key = idempotencyKey(request);
        const fault = faultOf(Number(/#(\d+)/.exec(JSON.parse(request.body).mail.subject)![1]));
        const first = !seen.has(key);
        seen.add(key);
        if (fault === 'permanent-422') {
          if (!response.socket?.destroyed) permanentAnswers.set(key, (permanentAnswers.get(key) ?? 0) + 1);
          return void response.writeHead(422).end('{"error":"unknown sender"}');
        }
        if (first && fault === '429') {
          return void response.writeHead(429, { 'retry-after': '1' }).end('{"error":"slow down"}');
        }
        if (
          fault === '500-then-503' &&
          upstream.requests.filter((each) => idempotencyKey(each) === key).length <= 2
        ) {
          const statusCode = first ? 500 : 503;
          return void response.writeHead(statusCode).end('{"error":"try later"}');
        }
        accepted.push(key);
        if (first && fault === 'reset-mid-body') return respondThenResetMidBody(response, 202);
        // The upstream took it, but the answer is lost: the gateway cannot know, and sends it again.
        if (first && fault === 'dropped-after-accept') return void response.socket?.destroy();
        response.writeHead(202, { 'content-type': 'application/json' }).end(`{"id":"up-${key}"}`);
      };

      const ledger = new OutcomeLedger();
      const client = singleAttemptClient(gateway!.address);
      const keys = Array.from({ length: MESSAGES }, (_, index) => `faults-${index}`);
      await sendUntilAcknowledged({
        keys,
        request: (key) => aSendMailRequest({ subject: `Message #${key.split('-')[1]}` }, key),
        send: (request) => client.sendMail(request),
        ledger,
        callers: 10,
        deadline: Date.now() + 60_000,
      });
      expect(ledger.acknowledged.size).toBe(MESSAGES);
      await gateway!.waitForFinalStates(MESSAGES, sized(90_000, 300_000));

      const messageIdOf = new Map([...ledger.acknowledged].map(([key, id]) => [id, key]));
      const permanent = [...ledger.acknowledged.values()].filter(
        (id) => faultOf(Number(messageIdOf.get(id)!.split('-')[1])) === 'permanent-422',
      );
      const deliverable = new OutcomeLedger();
      for (const [key, id] of ledger.acknowledged) {
        if (!permanent.includes(id)) deliverable.record(key, { kind: 'ok', messageId: id });
      }
      const figures = deliverable.figures(accepted);
      const statuses = new Map<string, number>();
      let permanentAttempts = 0;
      for (const id of ledger.acknowledged.values()) {
        const message = await gateway!.client.getMessage({ messageId: id });
        const name = MessageStatus[message.status];
        statuses.set(name, (statuses.get(name) ?? 0) + 1);
        if (permanent.includes(id)) {
          expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_FAILED);
          permanentAttempts = Math.max(permanentAttempts, message.attempts);
        }
      }
      const answersPerPermanent = permanent.map((id) => [id, permanentAnswers.get(id) ?? 0] as const);
      const permanentRequests = Math.max(0, ...answersPerPermanent.map(([, answers]) => answers));
      const droppedAfterAccept = keys.filter((_, index) => faultOf(index) === 'dropped-after-accept').length;
      client.close();

      console.log(
        formatFigures('4 upstream faults', figures, {
          messages: MESSAGES,
          'final states': JSON.stringify(Object.fromEntries(statuses)),
          'permanent failures': permanent.length,
          'permanent answers per message (max)': permanentRequests,
          'attempts per permanent failure (max)': permanentAttempts,
          'max open connections': upstream.maxOpenConnections,
          'connection cap': MAX_CONNECTIONS,
          'requests per address': ADDRESSES.map(
            (address) => `${address}:${upstream.requestsTo(address).length}`,
          ).join(','),
        }),
      );
      expect(figures.lost).toBe(0);
      expect(figures.unexpected).toBe(0);
      // Only an answer lost after the upstream took the message leads to a second copy; an
      // endpoint that honours Idempotency-Key (the http driver's contract) drops it.
      // A request to the slow address that timed out may still be taken by it, later.
      expect(figures.duplicates).toBeLessThanOrEqual(droppedAfterAccept + upstream.requestsTo(SLOW).length);
      expect(statuses.get('MESSAGE_STATUS_DELIVERED')).toBe(MESSAGES - permanent.length);
      expect(statuses.get('MESSAGE_STATUS_FAILED')).toBe(permanent.length);
      // The scenario produced its permanent failures: one message in six, each acknowledged.
      expect(permanent).toHaveLength(keys.filter((_, index) => faultOf(index) === 'permanent-422').length);
      expect(permanent.length).toBeGreaterThan(0);
      // A permanent answer ends the message: each got exactly one answer, never sent again. (An
      // earlier attempt may have failed before any answer, e.g. on the slow address.)
      expect(answersPerPermanent).toEqual(permanent.map((id) => [id, 1]));
      expect(upstream.maxOpenConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
      expect(upstream.requestsTo(SLOW).length).toBeGreaterThan(0);
      expect(upstream.requestsTo(REFUSING)).toHaveLength(0);
      expect(upstream.requestsTo(BLACK_HOLE)).toHaveLength(0);
    },
    sized(150_000, 600_000),
  );
});

function idempotencyKey(request: RecordedRequest): string {
  return String(request.headers['idempotency-key']);
}
