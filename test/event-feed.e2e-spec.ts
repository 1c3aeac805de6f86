import { status } from '@grpc/grpc-js';
import { FeedEvent, MessageEventType } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  httpGet,
  provisionTestDatabase,
  sampleValue,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { WireCaller, StreamRecorder } from './support/wire-caller';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests, startTestGateway, TestGateway } from './support/test-gateway';

const { ACCEPTED, ATTEMPT_STARTED, DELIVERED } = {
  ACCEPTED: MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
  ATTEMPT_STARTED: MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
  DELIVERED: MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED,
};
const ROLES = ['mail.send', 'mail.read'];

async function fetchMetric(metricsUrl: string, name: string, labels: Record<string, string> = {}) {
  return sampleValue((await httpGet(`${metricsUrl}/metrics`)).body, name, labels) ?? 0;
}

const openStreams = (gateway: TestGateway, count: number) =>
  waitFor(`${count} streams open`, async () =>
    (await fetchMetric(gateway.metricsUrl, 'mailgateway_feed_streams')) === count ? true : undefined,
  );

/** A new source with its own key: its feed holds only what the test sends. */
async function aSource(gateway: TestGateway, name: string) {
  const key = await gateway.addSource(name, ROLES);
  const client = gateway.connect(key);
  const feed = new WireCaller(gateway.address, key);
  const delivered = async (count: number) => {
    const ids: string[] = [];
    for (let index = 0; index < count; index++) {
      const { messageId } = await client.sendMail(
        aSendMailRequest({
          subject: `feed ${index}`,
          tags: ['invoice', `n${index}`],
          metadata: { order: `o-${index}` },
        }),
      );
      ids.push(messageId);
    }
    await waitFor(`${count} messages of ${name} delivered`, async () => {
      const { events } = await feed.listAll({ filter: { types: [DELIVERED], messageId: '' } });
      return events.length === count ? true : undefined;
    });
    return ids;
  };
  return { key, client, feed, delivered };
}

const byMessage = (events: FeedEvent[]) => {
  const histories = new Map<string, MessageEventType[]>();
  for (const event of events)
    histories.set(event.messageId, [...(histories.get(event.messageId) ?? []), event.type]);
  return histories;
};

describe.each(DATABASE_KINDS)('The event feed on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { FEED_HEARTBEAT_MS: '200' });
  const callers: WireCaller[] = [];
  const caller = (key: string) => {
    const feed = new WireCaller(gateway.address, key);
    callers.push(feed);
    return feed;
  };
  afterAll(() => callers.forEach((feed) => feed.close()));

  it('pages every event of the source, each history in order with the message’s tags and metadata, and nothing of other sources', async () => {
    const billing = await aSource(gateway, `${kind}-pages`);
    const other = await aSource(gateway, `${kind}-pages-other`);
    const ids = await billing.delivered(3);
    await other.delivered(1);

    const pages: FeedEvent[][] = [];
    let cursor = '';
    for (;;) {
      const page = await billing.feed.list({ cursor, pageSize: 2 });
      expect(page.nextCursor).not.toBe('');
      cursor = page.nextCursor;
      if (page.events.length === 0) break;
      pages.push(page.events);
    }
    const events = pages.flat();

    expect(pages.slice(0, -1).every((page) => page.length === 2)).toBe(true);
    expect(new Set(events.map((event) => event.messageId))).toEqual(new Set(ids));
    for (const id of ids) expect(byMessage(events).get(id)).toEqual([ACCEPTED, ATTEMPT_STARTED, DELIVERED]);
    expect(new Set(events.map((event) => event.eventId)).size).toBe(events.length);
    const first = events.find((event) => event.messageId === ids[1])!;
    expect(first).toMatchObject({ tags: ['invoice', 'n1'], metadata: { order: 'o-1' }, attempt: 0 });
    for (const event of events) {
      expect(event.recordedAt!.seconds * 1000 + event.recordedAt!.nanos / 1e6).toBeGreaterThanOrEqual(
        event.occurredAt!.seconds * 1000 + event.occurredAt!.nanos / 1e6,
      );
    }
    // The same cursor reads the same (empty) remainder; the whole feed reads the same again.
    expect((await billing.feed.list({ cursor })).events).toEqual([]);
    expect((await billing.feed.listAll()).events).toEqual(events);
  });

  it('filters by type and by message, and a cursor only goes with the filter it was issued for', async () => {
    const billing = await aSource(gateway, `${kind}-filters`);
    const ids = await billing.delivered(2);

    const delivered = await billing.feed.listAll({ filter: { types: [DELIVERED], messageId: '' } });
    const ofOne = await billing.feed.listAll({ filter: { types: [], messageId: ids[0] } });
    const foreign = await caller(TEST_API_KEY).listAll({ filter: { types: [], messageId: ids[0] } });

    // Deliveries may finish in either order; each message has exactly one DELIVERED event.
    expect(delivered.events.map((event) => event.type)).toEqual([DELIVERED, DELIVERED]);
    expect(new Set(delivered.events.map((event) => event.messageId))).toEqual(new Set(ids));
    expect(ofOne.events.map((event) => event.type)).toEqual([ACCEPTED, ATTEMPT_STARTED, DELIVERED]);
    expect(foreign.events).toEqual([]);
    await expectGrpcError(
      billing.feed.list({ cursor: delivered.nextCursor, filter: { types: [ACCEPTED], messageId: '' } }),
      status.INVALID_ARGUMENT,
      /^cursor: issued for another filter/,
    );
    // The same types in another order (and repeated) are the same filter.
    const both = await billing.feed.list({ filter: { types: [DELIVERED, ACCEPTED], messageId: '' } });
    await billing.feed.list({
      cursor: both.nextCursor,
      filter: { types: [ACCEPTED, DELIVERED, ACCEPTED], messageId: '' },
    });
  });

  it('refuses bad page sizes, types, message ids and cursors, naming the field', async () => {
    const billing = await aSource(gateway, `${kind}-refusals`);
    const other = await aSource(gateway, `${kind}-refusals-other`);
    await billing.delivered(1);
    const { nextCursor } = await billing.feed.list();
    const [body, mac] = nextCursor.split('.');
    const altered = JSON.parse(Buffer.from(body, 'base64url').toString()) as unknown[];
    altered[4] = 0;
    const tampered = `${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${mac}`;

    await expectGrpcError(billing.feed.list({ pageSize: 1001 }), status.INVALID_ARGUMENT, /^page_size: /);
    await expectGrpcError(
      billing.feed.list({ filter: { types: [99 as unknown as MessageEventType], messageId: '' } }),
      status.INVALID_ARGUMENT,
      /^filter\.types\[0\]: not a known event type/,
    );
    await expectGrpcError(
      billing.feed.list({
        filter: { types: [MessageEventType.MESSAGE_EVENT_TYPE_UNSPECIFIED], messageId: '' },
      }),
      status.INVALID_ARGUMENT,
      /^filter\.types\[0\]/,
    );
    await expectGrpcError(
      billing.feed.list({ filter: { types: [], messageId: 'not-a-uuid' } }),
      status.INVALID_ARGUMENT,
      /^filter\.message_id: /,
    );
    await expectGrpcError(
      billing.feed.list({ cursor: 'garbage' }),
      status.INVALID_ARGUMENT,
      /^cursor: not a cursor/,
    );
    await expectGrpcError(
      billing.feed.list({ cursor: tampered }),
      status.INVALID_ARGUMENT,
      /^cursor: not a cursor/,
    );
    await expectGrpcError(
      other.feed.list({ cursor: nextCursor }),
      status.INVALID_ARGUMENT,
      /^cursor: issued to another source/,
    );
    const stream = new StreamRecorder(billing.feed.stream({ cursor: tampered }));
    await stream.until('the refusal', (recorder) => recorder.error !== null);
    expect(status[stream.error!.code]).toBe('INVALID_ARGUMENT');
  });

  it('answers OUT_OF_RANGE for a cursor before the oldest event kept, and starts an empty cursor there', async () => {
    const billing = await aSource(gateway, `${kind}-floor`);
    await billing.delivered(1);
    const { nextCursor } = await billing.feed.listAll();
    const dataSource = gateway.app.get(DataSource);
    const placeholder = kind === 'postgres' ? '$1' : '?';
    // What purging old events leaves behind: the floor above every position issued so far.
    await dataSource.query(`INSERT INTO feed_state (name, value) VALUES ('floor', ${placeholder})`, [
      `${Number.MAX_SAFE_INTEGER - 1}:0`,
    ]);
    try {
      await expectGrpcError(
        billing.feed.list({ cursor: nextCursor }),
        status.OUT_OF_RANGE,
        /^cursor: the events after this cursor are no longer kept/,
      );
      expect((await billing.feed.list()).events).toEqual([]);
    } finally {
      await dataSource.query(`DELETE FROM feed_state WHERE name = 'floor'`);
    }
  });

  it('needs the mail.read role', async () => {
    const key = await gateway.addSource(`${kind}-sender-only`, ['mail.send']);
    const feed = caller(key);
    await expectGrpcError(feed.list(), status.PERMISSION_DENIED);
    const stream = new StreamRecorder(feed.stream());
    await stream.until('the refusal', (recorder) => recorder.error !== null);
    expect(status[stream.error!.code]).toBe('PERMISSION_DENIED');
  });

  it('streams the replay, then new events live, and heartbeats carry a cursor that resumes after them', async () => {
    const billing = await aSource(gateway, `${kind}-stream`);
    const [first] = await billing.delivered(1);
    const stream = new StreamRecorder(billing.feed.stream());
    try {
      await stream.until('the replay', (recorder) => recorder.events.length === 3);
      const { messageId: second } = await billing.client.sendMail(aSendMailRequest({ subject: 'live' }));
      await stream.until('the live events', (recorder) => recorder.events.length === 6);
      await stream.until('a heartbeat', (recorder) => recorder.items.some((item) => item.heartbeat));

      expect(byMessage(stream.events)).toEqual(
        new Map([
          [first, [ACCEPTED, ATTEMPT_STARTED, DELIVERED]],
          [second, [ACCEPTED, ATTEMPT_STARTED, DELIVERED]],
        ]),
      );
      expect(stream.events).toEqual((await billing.feed.listAll()).events);
      const heartbeat = stream.items.find((item) => item.heartbeat)!;
      expect(heartbeat.cursor).not.toBe('');
      // The heartbeat's cursor and the last event's both resume after every event seen.
      expect((await billing.feed.list({ cursor: heartbeat.cursor })).events).toEqual([]);
      const { messageId: third } = await billing.client.sendMail(aSendMailRequest({ subject: 'after' }));
      await stream.until('the third message', (recorder) =>
        recorder.events.some((event) => event.messageId === third),
      );
      const resumed = await billing.feed.list({ cursor: heartbeat.cursor });
      expect(resumed.events.length).toBeGreaterThan(0);
      expect(new Set(resumed.events.map((event) => event.messageId))).toEqual(new Set([third]));
    } finally {
      stream.call.cancel();
    }
  });
});

describe.each(DATABASE_KINDS)('Event streams on %s, at their limits', (kind) => {
  let gateway: TestGateway;
  let database: TestDatabase;
  const start = async (env: Record<string, string> = {}) => {
    database = await provisionTestDatabase(kind);
    gateway = await startTestGateway({ ...database.env, ...env });
  };
  afterEach(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it('refuses streams past the per-source and total limits with RESOURCE_EXHAUSTED', async () => {
    await start({ FEED_MAX_STREAMS_PER_SOURCE: '2', FEED_MAX_STREAMS: '3' });
    const keyA = await gateway.addSource('limits-a', ROLES);
    const keyB = await gateway.addSource('limits-b', ROLES);
    const feedA = new WireCaller(gateway.address, keyA);
    const feedB = new WireCaller(gateway.address, keyB);
    const open = (feed: WireCaller) => new StreamRecorder(feed.stream());
    const heldA = [open(feedA), open(feedA)];
    await openStreams(gateway, 2);
    const thirdA = open(feedA);
    await thirdA.until('the refusal', (recorder) => recorder.error !== null);
    const heldB = open(feedB);
    await openStreams(gateway, 3);
    const secondB = open(feedB);
    await secondB.until('the refusal', (recorder) => recorder.error !== null);

    expect(status[thirdA.error!.code]).toBe('RESOURCE_EXHAUSTED');
    expect(thirdA.error!.details).toMatch(/FEED_MAX_STREAMS_PER_SOURCE/);
    expect(status[secondB.error!.code]).toBe('RESOURCE_EXHAUSTED');
    expect(secondB.error!.details).toMatch(/FEED_MAX_STREAMS\)/);
    expect(heldA.concat(heldB).every((stream) => stream.error === null)).toBe(true);
    // A stream that ends gives its place back.
    heldA[0].call.cancel();
    await openStreams(gateway, 2);
    const again = open(feedA);
    await openStreams(gateway, 3);
    expect(again.error).toBeNull();
    [heldA[1], heldB, again].forEach((stream) => stream.call.cancel());
    feedA.close();
    feedB.close();
  });

  it('ends every stream with UNAVAILABLE on shutdown, so clients reconnect elsewhere with their cursor', async () => {
    await start();
    const feed = new WireCaller(gateway.address, TEST_API_KEY);
    const stream = new StreamRecorder(feed.stream());
    await gateway.client.sendMail(aSendMailRequest());
    await stream.until('an event', (recorder) => recorder.events.length > 0);

    await gateway.close();
    await stream.until('the end of the stream', (recorder) => recorder.error !== null);

    expect(status[stream.error!.code]).toBe('UNAVAILABLE');
    expect(stream.error!.details).toMatch(/shutting down; reconnect/);
    expect(stream.lastCursor).not.toBe('');
    feed.close();
  });

  it('reads no further ahead than a consumer that stopped reading, and catches it up when it reads again', async () => {
    await start();
    const key = await gateway.addSource('slow-reader', ROLES);
    const sender = gateway.connect(key);
    const feed = new WireCaller(gateway.address, key);
    const stream = new StreamRecorder(feed.stream());
    stream.call.pause();
    // Events of about 10 KB each (the message's metadata rides on every event): 150 messages make
    // 450 events, far more than gRPC's flow-control window holds.
    const metadata = Object.fromEntries(
      Array.from({ length: 10 }, (_, index) => [`k${index}`, 'x'.repeat(1000)]),
    );
    const messages = 150;
    for (let index = 0; index < messages; index += 50) {
      await sender.sendMailBatch({
        items: Array.from({ length: 50 }, () => aSendMailRequest({ metadata })),
      });
    }
    await gateway.waitForFinalStates(messages);
    const sent = async () =>
      fetchMetric(gateway.metricsUrl, 'mailgateway_feed_events_sent_total', { method: 'StreamEvents' });
    // Give the stream every chance to run ahead, then count what it handed to gRPC.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const whilePaused = await sent();

    stream.call.resume();
    await stream.until('every event', (recorder) => recorder.events.length === messages * 3, 60_000);

    expect(whilePaused).toBeLessThan(messages);
    expect(await sent()).toBe(messages * 3);
    stream.call.cancel();
    feed.close();
  });
});
