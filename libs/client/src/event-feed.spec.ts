import { once } from 'node:events';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  ServerWritableStream,
  ServiceClientConstructor,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { waitFor } from '@mailgateway/testing';
import { FeedItem } from './event-feed';
import {
  FeedEvent,
  StreamEventsRequest,
  StreamEventsResponse,
} from './generated/mailgateway/v1/mail_gateway';
import { MailGatewayClient } from './mail-gateway.client';
import { MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS } from './proto-files';

type FeedCall = ServerWritableStream<StreamEventsRequest, StreamEventsResponse>;

/** A gRPC server whose StreamEvents calls a test scripts; it records every request. */
async function startFeedServer(script: (call: FeedCall, index: number) => void) {
  const definition = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
  const v1 = (definition.mailgateway as Record<string, Record<string, ServiceClientConstructor>>).v1;
  const requests: StreamEventsRequest[] = [];
  const server = new Server();
  server.addService(v1.MailGateway.service, {
    streamEvents: (call: FeedCall) => {
      requests.push(call.request);
      script(call, requests.length - 1);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, requests, address: `127.0.0.1:${port}` };
}

const anEvent = (eventId: string): FeedEvent => ({
  eventId,
  messageId: '6f1c1e52-9d7a-4c55-8f0b-5b3c8e1d2a40',
  type: 'MESSAGE_EVENT_TYPE_ACCEPTED',
  attempt: 0,
  occurredAt: { seconds: 1_700_000_000, nanos: 0 },
  recordedAt: { seconds: 1_700_000_000, nanos: 0 },
  detail: 'accepted',
  provider: '',
  recipient: '',
  tags: [],
  metadata: {},
});

const eventItem = (eventId: string, cursor = `after-${eventId}`): StreamEventsResponse => ({
  event: anEvent(eventId),
  cursor,
});

const describeItem = (item: FeedItem) =>
  item.kind === 'event' ? `${item.event.eventId}@${item.cursor}` : `heartbeat@${item.cursor}`;

const fast = { reconnect: { initialDelayMs: 5, maxDelayMs: 20 } };

describe('MailGatewayClient.followEvents', () => {
  let server: Server | undefined;
  let sut: MailGatewayClient | undefined;

  const start = async (script: (call: FeedCall, index: number) => void) => {
    const feed = await startFeedServer(script);
    server = feed.server;
    sut = new MailGatewayClient({ address: feed.address, retry: { maxAttempts: 1 } });
    return { ...feed, sut };
  };

  afterEach(() => {
    sut?.close();
    server?.forceShutdown();
    sut = server = undefined;
  });

  it('resumes from the last cursor after UNAVAILABLE, dropping an event it already yielded', async () => {
    const { requests, sut } = await start((call, index) => {
      if (index === 0) {
        call.write(eventItem('e1'));
        call.write({ heartbeat: { sentAt: { seconds: 1_700_000_001, nanos: 0 } }, cursor: 'beat-1' });
        call.write(eventItem('e2'));
        call.emit('error', { code: status.UNAVAILABLE, details: 'shutting down' });
      } else if (index === 1) {
        // A replica that resumes a little early: e2 comes again.
        call.write(eventItem('e2', 'after-e2-again'));
        call.write(eventItem('e3'));
        call.emit('error', { code: status.UNAVAILABLE, details: 'database unreachable' });
      } else {
        call.write(eventItem('e4'));
      }
    });
    const filter = { types: ['MESSAGE_EVENT_TYPE_DELIVERED' as const], messageId: '' };

    const items: FeedItem[] = [];
    for await (const item of sut.followEvents({ cursor: 'start', filter, ...fast })) {
      items.push(item);
      if (items.length === 5) break;
    }

    expect(items.map(describeItem)).toEqual([
      'e1@after-e1',
      'heartbeat@beat-1',
      'e2@after-e2',
      'e3@after-e3',
      'e4@after-e4',
    ]);
    expect(requests).toEqual([
      { cursor: 'start', filter },
      { cursor: 'after-e2', filter },
      { cursor: 'after-e3', filter },
    ]);
  });

  it.each([
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT, 'cursor: malformed'],
    ['OUT_OF_RANGE', status.OUT_OF_RANGE, 'cursor: before the oldest event kept; start from an empty cursor'],
    ['PERMISSION_DENIED', status.PERMISSION_DENIED, 'the source lacks the role mail.read'],
  ])('ends with %s and does not reconnect', async (_name, code, details) => {
    const { requests, sut } = await start((call) => {
      call.write(eventItem('e1'));
      call.emit('error', { code, details });
    });

    const items: FeedItem[] = [];
    const following = (async () => {
      for await (const item of sut.followEvents(fast)) items.push(item);
    })();

    await expect(following).rejects.toMatchObject({ code, details });
    expect(items.map(describeItem)).toEqual(['e1@after-e1']);
    expect(requests).toHaveLength(1);
  });

  it('ends without an error when its signal aborts, cancelling the call', async () => {
    let cancelled = false;
    const { sut } = await start((call) => {
      call.on('cancelled', () => (cancelled = true));
      call.write(eventItem('e1'));
    });
    const controller = new AbortController();

    const items: FeedItem[] = [];
    for await (const item of sut.followEvents({ signal: controller.signal })) {
      items.push(item);
      controller.abort();
    }

    expect(items.map(describeItem)).toEqual(['e1@after-e1']);
    await waitFor('the server to see the call cancelled', () => (cancelled ? true : undefined));
  });

  it('ends when its signal aborts while it waits to reconnect', async () => {
    const { requests, sut } = await start((call) =>
      call.emit('error', { code: status.UNAVAILABLE, details: 'shutting down' }),
    );
    const controller = new AbortController();

    const following = (async () => {
      for await (const item of sut.followEvents({
        signal: controller.signal,
        reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      })) {
        throw new Error(`unexpected ${describeItem(item)}`);
      }
    })();
    await waitFor('the first call', () => (requests.length === 1 ? true : undefined));
    controller.abort();

    await expect(following).resolves.toBeUndefined();
    expect(requests).toHaveLength(1);
  });

  it('holds the server back while the consumer does not ask for more, and loses nothing', async () => {
    const total = 20_000;
    let written = 0;
    const { sut } = await start((call) => {
      // Writes as fast as the transport takes them, like a server replaying a long backlog.
      void (async () => {
        while (written < total && !call.cancelled) {
          const wrote = call.write(eventItem(`e${written}`, `c${written}`));
          written++;
          if (!wrote) await once(call, 'drain');
        }
      })();
    });

    const feed = sut.followEvents(fast);
    const first = await feed.next();
    expect(first.value).toMatchObject({ kind: 'event', cursor: 'c0' });
    // While nothing is asked for, the writes stop well short of the backlog: flow control holds them.
    let stalledAt = -1;
    await waitFor(
      'the server to stop writing',
      async () => {
        const before = written;
        await new Promise((resolve) => setTimeout(resolve, 200));
        return written === before ? (stalledAt = written) : undefined;
      },
      { intervalMs: 0 },
    );
    expect(stalledAt).toBeLessThan(total / 2);

    const cursors = ['c0'];
    for await (const item of feed) {
      cursors.push(item.cursor);
      if (cursors.length === total) break;
    }
    expect(cursors).toEqual(Array.from({ length: total }, (_, index) => `c${index}`));
  });
});
