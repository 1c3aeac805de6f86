import { setTimeout as sleep } from 'node:timers/promises';
import { ClientReadableStream, ServiceError, status } from '@grpc/grpc-js';
import { MailGatewayClient } from '@mailgateway/client';
import { FeedEvent, MessageEventType, MessageStatus, StreamEventsResponse } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  freePort,
  GatewayProcess,
  openTestDataSource,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { Client as PgClient } from 'pg';
import type { DataSource } from 'typeorm';
import { singleAttemptClient } from './support/single-attempt-client';
import { WireCaller } from './support/wire-caller';

/** The largest FEED_POLL_MS and FEED_HEARTBEAT_MS: within this suite, only a wake-up makes B read. */
const NO_POLL = { FEED_POLL_MS: '600000', FEED_HEARTBEAT_MS: '300000' };
/** Longer than a stream's catch-up reads after a wake-up: what B reads next, a new wake-up caused. */
const SETTLE_MS = 1_000;
/** Generous: an event arrives when a wake-up comes; the bound only ends a failing run. */
const ARRIVAL = { timeoutMs: 60_000, intervalMs: 20 };
const ROUNDS = 3;
const MESSAGES_PER_ROUND = 10;
const DELIVERED_HISTORY: MessageEventType[] = [
  MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
  MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
  MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED,
];

/** Every event of the source's feed, from the oldest, by following next_cursor. */
async function listWholeFeed(feed: WireCaller): Promise<FeedEvent[]> {
  return (await feed.listAll({ pageSize: 1_000 })).events;
}

/** A StreamEvents call read in the background: what it has received so far and how it ended. */
class EventStream {
  readonly items: StreamEventsResponse[] = [];
  /** The status the stream ended with (OK when it ended without an error) and its message. */
  readonly ended: Promise<{ code: status; details: string }>;
  private readonly call: ClientReadableStream<StreamEventsResponse>;

  constructor(feed: WireCaller, cursor = '') {
    this.call = feed.stream({ cursor });
    this.call.on('data', (item: StreamEventsResponse) => this.items.push(item));
    this.ended = new Promise((resolve) => {
      this.call.on('error', (error: ServiceError) => resolve({ code: error.code, details: error.details }));
      this.call.on('end', () => resolve({ code: status.OK, details: '' }));
    });
  }

  get events(): FeedEvent[] {
    return this.items.flatMap((item) => (item.event ? [item.event] : []));
  }

  get heartbeats(): number {
    return this.items.filter((item) => item.heartbeat).length;
  }

  /** The cursor of the last item received: where a reconnecting client resumes. */
  get lastCursor(): string {
    return this.items[this.items.length - 1]?.cursor ?? '';
  }

  /** The types received for `messageId`, in order. */
  typesOf(messageId: string): MessageEventType[] {
    return this.events.filter((event) => event.messageId === messageId).map((event) => event.type);
  }

  /** Resolves once every message in `messageIds` has an event of each of `types`. */
  waitForEvents(description: string, messageIds: readonly string[], types: readonly MessageEventType[]) {
    return waitFor(
      description,
      () =>
        messageIds.every((id) => types.every((type) => this.typesOf(id).includes(type))) ? true : undefined,
      ARRIVAL,
    );
  }

  cancel(): void {
    this.call.cancel();
  }
}

describe('Event feed across two replicas on PostgreSQL', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  /** A: accepts and delivers. B: neither, and never polls: its streams read only when woken. */
  let gatewayA: GatewayProcess;
  let gatewayB: GatewayProcess;
  let mailA: MailGatewayClient;
  let feedA: WireCaller;
  let feedB: WireCaller;
  const streams: EventStream[] = [];

  const startGateway = async (env: Record<string, string>) => {
    const port = await freePort();
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(port),
      DELIVERY_POLL_INTERVAL_MS: '20',
      ...env,
    });
    return { gateway, address: `127.0.0.1:${port}` };
  };
  const openStream = (stub: WireCaller, cursor = '') => {
    const stream = new EventStream(stub, cursor);
    streams.push(stream);
    return stream;
  };
  const sendToA = async (count: number, label: string): Promise<string[]> =>
    Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const { messageId } = await mailA.sendMail(aSendMailRequest({ subject: `${label} ${index}` }));
        return messageId;
      }),
    );
  /** Connections of a FeedSignal that are listening on the feed's channel. */
  const listeners = async () => {
    const [{ count }] = await dataSource.query(
      `SELECT COUNT(*) AS count FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'mailgateway-feed' AND query LIKE 'LISTEN%'`,
    );
    return Number(count);
  };

  beforeAll(async () => {
    database = await provisionTestDatabase('postgres');
    dataSource = await openTestDataSource(database.env);
    const a = await startGateway({});
    const b = await startGateway({ DELIVERY_ENABLED: 'false', ...NO_POLL });
    gatewayA = a.gateway;
    gatewayB = b.gateway;
    mailA = singleAttemptClient(a.address);
    feedA = new WireCaller(a.address, TEST_API_KEY);
    feedB = new WireCaller(b.address, TEST_API_KEY);
  });

  afterAll(async () => {
    for (const stream of streams) stream.cancel();
    mailA?.close();
    feedA?.close();
    feedB?.close();
    for (const gateway of [gatewayA, gatewayB]) await gateway?.crash();
    await dataSource?.destroy();
    await database?.drop();
  });

  it("follows on B what is sent to A, woken only by A's NOTIFY: every ACCEPTED, then each delivery", async () => {
    const stream = openStream(feedB);
    await waitFor('B to listen on the feed channel', async () =>
      (await listeners()) >= 1 ? true : undefined,
    );
    const first = await sendToA(1, 'first');
    await stream.waitForEvents('the first ACCEPTED event on B', first, [DELIVERED_HISTORY[0]]);

    const sent = [...first];
    for (let round = 1; round <= ROUNDS; round++) {
      // B has read all there was and waits: only a NOTIFY from A can make it read again.
      await sleep(SETTLE_MS);
      const ids = await sendToA(MESSAGES_PER_ROUND, `round ${round}`);
      sent.push(...ids);
      await stream.waitForEvents(`round ${round}'s ACCEPTED events on B`, ids, [DELIVERED_HISTORY[0]]);
    }
    await stream.waitForEvents('every delivery on B', sent, DELIVERED_HISTORY);

    console.log(
      `Feed across replicas: ${sent.length} messages sent to A in ${ROUNDS + 1} rounds, ` +
        `${stream.events.length} events on B's stream, ${stream.heartbeats} heartbeats`,
    );
    // Each message's history arrives once, in the order it happened.
    for (const id of sent) expect(stream.typesOf(id)).toEqual(DELIVERED_HISTORY);
    expect(new Set(stream.events.map((event) => event.eventId)).size).toBe(stream.events.length);
    expect(stream.heartbeats).toBe(0);
    stream.cancel();
    expect((await stream.ended).code).toBe(status.CANCELLED);
  }, 180_000);

  it('holds back on B what A commits while an older transaction is open, and sends it once that one ends', async () => {
    const stream = openStream(feedB);
    // A transaction with an id, begun before A's: the feed may not pass it until it ends.
    const older = new PgClient({ connectionString: database.env.DATABASE_URL });
    await older.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const ids = await sendToA(3, 'behind an open transaction');
      await waitFor(
        'A to deliver them',
        async () => {
          const statuses = await Promise.all(
            ids.map(async (messageId) => (await mailA.getMessage({ messageId })).status),
          );
          return statuses.every((status) => status === MessageStatus.MESSAGE_STATUS_DELIVERED)
            ? true
            : undefined;
        },
        ARRIVAL,
      );
      // Every wake-up for them has come and gone; the catch-up reads after it are over.
      await sleep(SETTLE_MS);
      expect(ids.flatMap((id) => stream.typesOf(id))).toEqual([]);

      await older.query('COMMIT');
      await stream.waitForEvents(
        'their events on B once the older transaction ended',
        ids,
        DELIVERED_HISTORY,
      );
      for (const id of ids) expect(stream.typesOf(id)).toEqual(DELIVERED_HISTORY);
    } finally {
      await older.end();
    }
    stream.cancel();
  }, 180_000);

  it("ends B's stream with UNAVAILABLE on SIGTERM; resumed on A from its last cursor, every later event comes exactly once", async () => {
    const onB = openStream(feedB);
    const before = await sendToA(5, 'before the stop');
    await onB.waitForEvents('the ACCEPTED events on B', before, [DELIVERED_HISTORY[0]]);

    // A keeps accepting (and delivering) while B stops.
    let sending = true;
    const during: string[] = [];
    const sender = (async () => {
      while (sending) during.push(...(await sendToA(2, 'during the stop')));
    })();
    await waitFor('messages sent while B runs', () => (during.length >= 4 ? true : undefined));
    gatewayB.kill('SIGTERM');
    // The gateway's own answer, not a dropped connection: reconnect elsewhere with the cursor.
    expect(await onB.ended).toEqual({
      code: status.UNAVAILABLE,
      details: expect.stringContaining('shutting down'),
    });
    expect((await gatewayB.exited).code).toBe(0);
    const sentBeforeExit = during.length;
    await waitFor(
      'messages sent after B stopped',
      () => (during.length >= sentBeforeExit + 6 ? true : undefined),
      ARRIVAL,
    );
    sending = false;
    await sender;
    const cursor = onB.lastCursor;
    expect(cursor).not.toBe('');

    const onA = openStream(feedA, cursor);
    const after = await sendToA(5, 'after the resume');
    const sent = [...before, ...during, ...after];
    await waitFor(
      'every message to be delivered and in the feed',
      async () => {
        const [{ count }] = await dataSource.query(
          `SELECT COUNT(*) AS count FROM message_event WHERE type = 'delivered' AND message_id = ANY($1)`,
          [sent],
        );
        return Number(count) === sent.length ? true : undefined;
      },
      ARRIVAL,
    );
    const [{ total }] = await dataSource.query('SELECT COUNT(*) AS total FROM message_event');
    const feed = await waitFor(
      'ListEvents to reach every event',
      async () => {
        const events = await listWholeFeed(feedA);
        return events.length === Number(total) ? events : undefined;
      },
      ARRIVAL,
    );
    const feedIds = feed.map((event) => event.eventId);
    await waitFor(
      "A's stream to reach the end of the feed",
      () =>
        onA.events.length > 0 && onA.events[onA.events.length - 1].eventId === feedIds[feedIds.length - 1]
          ? true
          : undefined,
      ARRIVAL,
    );
    const onBIds = onB.events.map((event) => event.eventId);
    const onAIds = onA.events.map((event) => event.eventId);
    const seen = new Set([...onBIds, ...onAIds]);
    console.log(
      `Feed across a stop: ${sent.length} messages (${during.length} while B stopped and after), feed ${feedIds.length} events; ` +
        `B's stream ${onBIds.length}, A's resumed stream ${onAIds.length}, ` +
        `missed ${feedIds.filter((id) => !seen.has(id)).length}, ` +
        `on both ${onAIds.filter((id) => onBIds.includes(id)).length}`,
    );
    // B's stream and A's resumed one together are the feed, in its order, each event once.
    expect([...onBIds, ...onAIds]).toEqual(feedIds);
    expect(onAIds.length).toBeGreaterThan(0);
    for (const id of sent)
      expect(feed.filter((event) => event.messageId === id).map((event) => event.type)).toEqual(
        DELIVERED_HISTORY,
      );
  }, 180_000);
});
