import { setTimeout as sleep } from 'node:timers/promises';
import { GetMessageResponse, MessageStatus, SendMailRequest, Timestamp } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  FakeUpstream,
  provisionTestDatabase,
  StaticHostResolver,
  TestCertificateAuthority,
  TestDatabase,
} from '@mailgateway/testing';
import { CancelAnswer, CancelClient } from '../support/cancel-client';
import { startTestGateway, TestGateway } from '../support/test-gateway';
import { sized } from './reliability-scale';

const HOSTNAME = 'race.upstream.test';
const ADDRESS = '127.0.0.2';
const MESSAGES = sized(2_000, 3_000);
const BATCH = 500;
/** Send times are spread over this window, starting shortly after the sends begin. */
const SPREAD_MS = 2_500;
const LEAD_MS = 400;
/** One message in this many has no send_at: it is due at once. */
const AT_ONCE_EVERY = 8;
/** One message in this many gets a 503 for its first attempt (a retryable failure). */
const FLAKY_EVERY = 4;
/** The share of messages cancelled around their due time, and of those a second time. */
const DUE_CANCEL_SHARE = 0.6;
const SECOND_CANCEL_SHARE = 0.25;
/**
 * The share of messages cancelled again when their first request reaches the upstream, a moment
 * later: the claim's timing depends on the machine's load, this lands during or just after the
 * attempt whatever the load.
 */
const IN_FLIGHT_CANCEL_SHARE = 0.3;
const IN_FLIGHT_CANCEL_DELAY_MS = { from: 0, to: 40 };
/** Of the cancels, the share sent through CancelMessages (with whatever else is due then). */
const BATCHED_SHARE = 0.5;
/** A cancel fires this far from its message's due time: before, during and after the claim. */
const CANCEL_OFFSET_MS = { from: -30, to: 90 };
/** Each upstream answer takes this long, so cancels land while attempts are in flight. */
const UPSTREAM_DELAY_MS = { from: 2, to: 25 };
const CONCURRENCY = 32;

interface UpstreamEntry {
  readonly messageId: string;
  readonly attempt: number;
  readonly receivedAt: number;
  statusCode: number;
}

interface CancelRecord {
  readonly messageId: string;
  readonly via: 'CancelMessage' | 'CancelMessages';
  /** Timed from the message's due time, or from its first request reaching the upstream. */
  readonly timedFrom: 'due' | 'request';
  readonly sentAt: number;
  answeredAt: number;
  answer: CancelAnswer;
}

const between = ({ from, to }: { from: number; to: number }) => from + Math.random() * (to - from);
const timestamp = (ms: number): Timestamp => ({
  seconds: Math.floor(ms / 1000),
  nanos: (ms % 1000) * 1_000_000,
});
/** Milliseconds since the epoch, with a fraction: one clock for the upstream's log and the cancels. */
const now = () => performance.timeOrigin + performance.now();
const indexOf = (subject: string) => Number(/#(\d+)/.exec(subject)![1]);

// Scenario 10: cancels racing the claim. Each message ends either cancelled or delivered, never
// both: a cancel answered OK is never followed by an upstream request, and a cancel answered
// "being sent" lets that attempt finish but starts no other.
describe.each(DATABASE_KINDS)('Reliability: cancels racing the claim on %s', (kind) => {
  let database: TestDatabase;
  let upstream: FakeUpstream;
  let gateway: TestGateway | undefined;
  let cancels: CancelClient | undefined;

  beforeAll(async () => {
    const authority = await TestCertificateAuthority.create();
    const caFile = await authority.writeTemporaryPem();
    database = await provisionTestDatabase(kind);
    upstream = await FakeUpstream.start(await authority.issue(HOSTNAME), [ADDRESS]);
    gateway = await startTestGateway(
      {
        ...database.env,
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HOSTNAME}:${upstream.port}/v1/messages`,
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        UPSTREAM_MAX_CONNECTIONS: String(CONCURRENCY),
        UPSTREAM_FLEET_MAX_CONNECTIONS: String(CONCURRENCY),
        DELIVERY_CONCURRENCY: String(CONCURRENCY),
        DELIVERY_POLL_INTERVAL_MS: '20',
        RETRY_BASE_DELAY_MS: '20',
        RETRY_MAX_DELAY_MS: '200',
      },
      { resolver: new StaticHostResolver().set(HOSTNAME, [ADDRESS]) },
    );
    cancels = new CancelClient(gateway.address);
  });

  afterAll(async () => {
    cancels?.close();
    await gateway?.close();
    await upstream?.close();
    await database?.drop();
  });

  it(
    `ends each of ${MESSAGES} messages cancelled or delivered, never both, while cancels race their claims`,
    async () => {
      const records: CancelRecord[] = [];
      const pendingBatch: CancelRecord[] = [];
      const calls: Promise<void>[] = [];
      const timers: Promise<void>[] = [];
      let flushScheduled = false;
      const flushBatch = () => {
        flushScheduled = false;
        while (pendingBatch.length > 0) {
          const batch = pendingBatch.splice(0, 1_000);
          calls.push(
            cancels!.cancelMessages(batch.map((record) => record.messageId)).then((answers) => {
              const answeredAt = now();
              batch.forEach((record, index) => {
                record.answeredAt = answeredAt;
                record.answer = answers[index];
              });
            }),
          );
        }
      };
      /** Cancels after `delayMs`, alone or in the next CancelMessages call (with whatever else is due). */
      const cancelLater = (messageId: string, delayMs: number, timedFrom: CancelRecord['timedFrom']) => {
        const via = Math.random() < BATCHED_SHARE ? 'CancelMessages' : 'CancelMessage';
        const fire = () => {
          const record: CancelRecord = {
            messageId,
            via,
            timedFrom,
            sentAt: now(),
            answeredAt: 0,
            answer: { kind: 'other', code: 'NONE', message: 'never answered' },
          };
          records.push(record);
          if (via === 'CancelMessages') {
            pendingBatch.push(record);
            if (!flushScheduled) {
              flushScheduled = true;
              setTimeout(flushBatch, between({ from: 1, to: 8 }));
            }
            return;
          }
          calls.push(
            cancels!.cancelMessage(messageId).then((answer) => {
              record.answeredAt = now();
              record.answer = answer;
            }),
          );
        };
        timers.push(sleep(Math.max(0, delayMs)).then(fire));
      };

      const log: UpstreamEntry[] = [];
      const seenUpstream = new Set<string>();
      upstream.handler = async (request, response) => {
        const body = JSON.parse(request.body) as {
          messageId: string;
          attempt: number;
          mail: { subject: string };
        };
        const entry: UpstreamEntry = {
          messageId: body.messageId,
          attempt: body.attempt,
          receivedAt: now(),
          statusCode: 0,
        };
        log.push(entry);
        if (!seenUpstream.has(body.messageId)) {
          seenUpstream.add(body.messageId);
          if (Math.random() < IN_FLIGHT_CANCEL_SHARE) {
            cancelLater(body.messageId, between(IN_FLIGHT_CANCEL_DELAY_MS), 'request');
          }
        }
        await sleep(between(UPSTREAM_DELAY_MS));
        const flaky = indexOf(body.mail.subject) % FLAKY_EVERY === 0 && body.attempt === 1;
        entry.statusCode = flaky ? 503 : 202;
        if (flaky) return void response.writeHead(503).end('{"error":"try later"}');
        response.writeHead(202, { 'content-type': 'application/json' }).end(`{"id":"up-${body.messageId}"}`);
      };

      const base = Date.now() + LEAD_MS;
      const ids: string[] = [];
      const dueAt = new Map<string, number>();
      for (let first = 0; first < MESSAGES; first += BATCH) {
        const items: SendMailRequest[] = [];
        const sendAt: (number | undefined)[] = [];
        for (let index = first; index < Math.min(MESSAGES, first + BATCH); index++) {
          const at = index % AT_ONCE_EVERY === 0 ? undefined : base + Math.floor(Math.random() * SPREAD_MS);
          sendAt.push(at);
          items.push({
            ...aSendMailRequest({ subject: `Race #${index}` }),
            ...(at === undefined ? {} : { sendAt: timestamp(at) }),
          });
        }
        const { results } = await gateway!.client.sendMailBatch({ items });
        const acceptedAt = Date.now();
        results.forEach((result, offset) => {
          const messageId = result.accepted!.messageId;
          const due = Math.max(sendAt[offset] ?? acceptedAt, acceptedAt);
          ids.push(messageId);
          dueAt.set(messageId, due);
          if (Math.random() >= DUE_CANCEL_SHARE) return;
          const times = Math.random() < SECOND_CANCEL_SHARE ? 2 : 1;
          for (let time = 0; time < times; time++) {
            cancelLater(messageId, due + between(CANCEL_OFFSET_MS) - Date.now(), 'due');
          }
        });
      }
      const sendsTookMs = Date.now() - base + LEAD_MS;
      expect(ids).toHaveLength(MESSAGES);
      await gateway!.waitForFinalStates(MESSAGES, 120_000);
      // Every cancel fired and answered, those timed from a late request included.
      for (let settled = 0; settled < timers.length + calls.length || flushScheduled;) {
        settled = timers.length + calls.length;
        await Promise.all([...timers, ...calls]);
        while (flushScheduled) await sleep(5);
      }

      const messages = new Map<string, GetMessageResponse>();
      for (let first = 0; first < ids.length; first += 20) {
        const page = await Promise.all(
          ids.slice(first, first + 20).map((messageId) => gateway!.client.getMessage({ messageId })),
        );
        page.forEach((message, offset) => messages.set(ids[first + offset], message));
      }
      const statusOf = (messageId: string) => messages.get(messageId)!.status;
      const requestsOf = groupBy(log, (entry) => entry.messageId);
      const cancelsOf = groupBy(records, (record) => record.messageId);
      const deliveredUpstream = new Set(
        log.filter((entry) => entry.statusCode === 202).map((entry) => entry.messageId),
      );
      const outcomes = { cancelled: 0, 'being-sent': 0, final: 0, other: 0 };
      for (const { answer } of records) outcomes[answer.kind]++;

      const others = records.filter((record) => record.answer.kind === 'other');
      // A cancel answered OK: the upstream never took the message, nor got a request after the answer.
      const okButSent = records.filter(
        (record) =>
          record.answer.kind === 'cancelled' &&
          (deliveredUpstream.has(record.messageId) ||
            (requestsOf.get(record.messageId) ?? []).some((entry) => entry.receivedAt > record.answeredAt)),
      );
      const neither = ids.filter(
        (id) =>
          statusOf(id) !== MessageStatus.MESSAGE_STATUS_CANCELLED &&
          statusOf(id) !== MessageStatus.MESSAGE_STATUS_DELIVERED,
      );
      const both = ids.filter(
        (id) =>
          (statusOf(id) === MessageStatus.MESSAGE_STATUS_CANCELLED && deliveredUpstream.has(id)) ||
          (statusOf(id) === MessageStatus.MESSAGE_STATUS_DELIVERED &&
            (cancelsOf.get(id) ?? []).some((record) => record.answer.kind === 'cancelled')),
      );
      // A cancel answered "being sent" (attempt n) lets attempt n finish: no later attempt reaches the upstream.
      const resentAfterBeingSent = records.filter(
        ({ messageId, answer }) =>
          answer.kind === 'being-sent' &&
          (requestsOf.get(messageId) ?? []).some((entry) => entry.attempt > answer.attempt),
      );
      // A cancel refused as final names the status the message ended in.
      const wrongFinal = records.filter(
        (record) =>
          record.answer.kind === 'final' &&
          `MESSAGE_STATUS_${record.answer.status}` !== MessageStatus[statusOf(record.messageId)],
      );
      // Each message ends as the answers say: CANCELLED after a cancel answered OK, or after one
      // answered "being sent" during an attempt the upstream did not take; DELIVERED otherwise.
      const expectedStatus = (id: string) => {
        const requests = requestsOf.get(id) ?? [];
        const stoppedBy = ({ answer }: CancelRecord) =>
          answer.kind === 'cancelled' ||
          (answer.kind === 'being-sent' &&
            !requests.some((entry) => entry.attempt === answer.attempt && entry.statusCode === 202));
        return (cancelsOf.get(id) ?? []).some(stoppedBy)
          ? MessageStatus.MESSAGE_STATUS_CANCELLED
          : MessageStatus.MESSAGE_STATUS_DELIVERED;
      };
      const unexpectedStatus = ids.filter((id) => statusOf(id) !== expectedStatus(id));
      // Cancelled by the outcome of the attempt a cancel came during (no cancel answered OK).
      const cancelledByFailedAttempt = ids.filter(
        (id) =>
          statusOf(id) === MessageStatus.MESSAGE_STATUS_CANCELLED &&
          !(cancelsOf.get(id) ?? []).some((record) => record.answer.kind === 'cancelled'),
      );
      const finalStates = countBy([...messages.values()], (message) => MessageStatus[message.status]);
      // How long after its due time each message's first attempt reached the upstream: the claim's lag.
      const lags = ids
        .filter((id) => requestsOf.has(id))
        .map((id) => requestsOf.get(id)![0].receivedAt - dueAt.get(id)!)
        .sort((a, b) => a - b);
      const lagAt = (share: number) => Math.round(lags[Math.floor(share * (lags.length - 1))] ?? 0);
      const outcomesOf = (timedFrom: CancelRecord['timedFrom']) =>
        JSON.stringify(
          countBy(
            records.filter((record) => record.timedFrom === timedFrom),
            (record) => record.answer.kind,
          ),
        );

      console.log(
        `[reliability 10 cancel race, ${kind}] ${Object.entries({
          messages: MESSAGES,
          'sends took ms': sendsTookMs,
          cancels: records.length,
          'via CancelMessage': records.filter((record) => record.via === 'CancelMessage').length,
          'via CancelMessages': records.filter((record) => record.via === 'CancelMessages').length,
          'answered OK': outcomes.cancelled,
          'answered being sent': outcomes['being-sent'],
          'answered already final': outcomes.final,
          'answered otherwise': outcomes.other,
          'timed from due': outcomesOf('due'),
          'timed from request': outcomesOf('request'),
          'final states': JSON.stringify(finalStates),
          'upstream requests': log.length,
          'upstream 503s': log.filter((entry) => entry.statusCode === 503).length,
          'first request after due p10/p50/p90 ms': `${lagAt(0.1)}/${lagAt(0.5)}/${lagAt(0.9)}`,
          'cancelled by a failed attempt': cancelledByFailedAttempt.length,
          'OK cancels whose message reached the upstream': okButSent.length,
          'neither cancelled nor delivered': neither.length,
          'both cancelled and delivered': both.length,
          'sent again after a being-sent cancel': resentAfterBeingSent.length,
          'final refusals naming another status': wrongFinal.length,
          'unexpected final status': unexpectedStatus.length,
        })
          .map(([name, value]) => `${name}=${value}`)
          .join(' ')}`,
      );
      const evidence = (id: string) => ({
        id,
        status: MessageStatus[statusOf(id)],
        cancels: cancelsOf.get(id),
        upstream: requestsOf.get(id),
        events: messages.get(id)!.events.map(({ type, attempt, detail }) => `${type} ${attempt}: ${detail}`),
      });
      const firstFew = (violations: string[]) => [...new Set(violations)].slice(0, 3).map(evidence);
      expect(others.slice(0, 5)).toEqual([]);
      expect(firstFew(okButSent.map((record) => record.messageId))).toEqual([]);
      expect(firstFew(neither)).toEqual([]);
      expect(firstFew(both)).toEqual([]);
      expect(firstFew(resentAfterBeingSent.map((record) => record.messageId))).toEqual([]);
      expect(firstFew(wrongFinal.map((record) => record.messageId))).toEqual([]);
      expect(firstFew(unexpectedStatus)).toEqual([]);
      // The race was run: cancels landed before claims and during attempts, failed ones included.
      expect(outcomes.cancelled).toBeGreaterThan(0);
      expect(outcomes['being-sent']).toBeGreaterThan(0);
      expect(cancelledByFailedAttempt.length).toBeGreaterThan(0);
    },
    sized(150_000, 240_000),
  );
});

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return counts;
}
