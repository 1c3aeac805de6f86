// Flowmailer REST API v1.12 (https://flowmailer.com/apidoc/flowmailer-api.html): reference ranges
// (`Range: items=<reference>:<count>`, answered with `Next-Range: items=<reference>:<count>`), the
// MessageEvent and Message models and the event types as the official SDK has them
// (flowmailer/flowmailer-php-sdk src/Model/MessageEvent.php, src/Model/Message.php,
// src/Enum/EventType.php, Endpoints::getMessageEvents).
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfigSlice } from '@mailgateway/config';
import { UpstreamRegistry, upstreamConfig } from '@mailgateway/delivery';
import {
  DATABASE_KINDS,
  FakeUpstream,
  type MigratedTestDatabase,
  openMigratedTestDatabase,
  type RecordedRequest,
  StaticHostResolver,
  TestCertificateAuthority,
} from '@mailgateway/testing';
import { FlowmailerEventsPoller } from './flowmailer-events-poller';
import { flowmailerEventsPoller } from './flowmailer-events-poller.factory';

const HOST = 'api.flowmailer.test';
const ADDRESS = '127.0.0.61';
const ACCOUNT = '520';
const GATEWAY_ID = '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90';

interface FakeEvent {
  readonly id: string;
  readonly messageId: string;
  readonly type: string;
  readonly received: string;
  readonly snippet?: string;
}

/** Flowmailer's event API over real HTTPS: events oldest first, paged by reference. */
class FakeFlowmailer {
  readonly events: FakeEvent[] = [];
  readonly ranges: string[] = [];
  failMessageLookups = false;
  readonly goneMessages = new Set<string>();
  private holding = false;
  private readonly heldPages: (() => void)[] = [];

  constructor(readonly upstream: FakeUpstream) {
    upstream.handler = (request, response) => this.handle(request, response);
  }

  private async handle(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      response
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify(body));
    };
    if (request.path === '/oauth/token')
      return json(200, { access_token: 'token-1', token_type: 'bearer', expires_in: 60 });
    if (request.headers.authorization !== 'Bearer token-1') return json(401, { error: 'invalid_token' });
    if (request.path.startsWith(`/${ACCOUNT}/message_events?sortorder=ASC`)) {
      const range = String(request.headers.range);
      this.ranges.push(range);
      const [, reference, count] = /^items=([^:]*):(\d+)$/.exec(range) ?? [];
      const start = reference ? Number(reference.replace('ref-', '')) : 0;
      const page = this.events.slice(start, start + Number(count));
      if (this.holding) await new Promise<void>((resolve) => this.heldPages.push(resolve));
      return json(206, page, { 'next-range': `items=ref-${start + page.length}:${count}` });
    }
    const message = /^\/520\/messages\/([^/?]+)$/.exec(request.path);
    if (message) {
      if (this.failMessageLookups) return json(503, {});
      if (this.goneMessages.has(message[1])) return json(404, {});
      const recipient = message[1].replace('fm-', '');
      return json(200, {
        id: message[1],
        recipientAddress: `${recipient}@example.org`,
        headersIn: [{ name: 'X-Mailgateway-Message-Id', value: GATEWAY_ID }],
      });
    }
    return json(404, {});
  }

  /** Holds the answer of every page asked for from now on, until it is released. */
  holdPages(): void {
    this.holding = true;
  }

  /** Answers the `index`th held page (in the order they were asked for). */
  releasePage(index: number): void {
    this.heldPages[index]();
  }

  /** Answers every held page, and holds no more. */
  releasePages(): void {
    this.holding = false;
    for (const release of this.heldPages) release();
  }

  /** Resolves once `count` pages were asked for. */
  async pagesAsked(count: number): Promise<void> {
    for (let tries = 0; this.ranges.length < count && tries < 500; tries++) await sleep(10);
    expect(this.ranges.length).toBeGreaterThanOrEqual(count);
  }

  add(...events: Omit<FakeEvent, 'received'>[]): void {
    for (const event of events) this.events.push({ received: '2026-12-01T11:00:00.000Z', ...event });
  }
}

describe.each(DATABASE_KINDS)(`${FlowmailerEventsPoller.name} on %s`, (kind) => {
  let authority: TestCertificateAuthority;
  let caFile: string;
  let database: MigratedTestDatabase;
  let flowmailer: FakeFlowmailer;
  const registries: UpstreamRegistry[] = [];

  const pollerFor = (transactions = database.transactions) => {
    const registry = new UpstreamRegistry(
      loadConfigSlice(upstreamConfig, { UPSTREAM_CA_FILE: caFile, UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true' }),
      new StaticHostResolver().set(HOST, [ADDRESS]),
    );
    registries.push(registry);
    const origin = `https://${HOST}:${flowmailer.upstream.port}`;
    return flowmailerEventsPoller(
      { pollMs: 60_000, pageSize: 2 },
      {
        apiUrl: origin,
        tokenUrl: `${origin}/oauth/token`,
        accountId: ACCOUNT,
        clientId: 'client',
        clientSecret: 'secret',
      },
      registry,
      transactions,
    )!;
  };

  const stored = async () =>
    (
      await database.dataSource.query(
        `SELECT provider, event_id AS "eventId", feedback, state FROM provider_notification ORDER BY event_id`,
      )
    ).map((row: { feedback: string }) => ({ ...row, feedback: JSON.parse(row.feedback) }));

  const position = async () =>
    (await database.dataSource.query(`SELECT feed, position FROM feedback_position`)) as {
      feed: string;
      position: string;
    }[];

  beforeAll(async () => {
    authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
  });

  beforeEach(async () => {
    database = await openMigratedTestDatabase(kind);
    flowmailer = new FakeFlowmailer(await FakeUpstream.start(await authority.issue(HOST), [ADDRESS]));
  });

  afterEach(async () => {
    for (const registry of registries.splice(0)) await registry.onModuleDestroy();
    await flowmailer.upstream.close();
    await database.close();
  });

  it('reads every page from the start, storing the feedback events once with the position', async () => {
    flowmailer.add(
      { id: 'e1', messageId: 'fm-ada', type: 'SUBMITTED' },
      { id: 'e2', messageId: 'fm-ada', type: 'DELIVERED' },
      { id: 'e3', messageId: 'fm-bob', type: 'HARDBOUNCE', snippet: '550 5.1.1 user unknown' },
      { id: 'e4', messageId: 'fm-eve', type: 'OPENED' },
      { id: 'e5', messageId: 'fm-eve', type: 'SOFTBOUNCE', snippet: '452 4.2.2 mailbox full' },
    );

    const pages = await pollerFor().poll();

    expect(pages).toEqual([
      { polled: true, eventsRead: 2 },
      { polled: true, eventsRead: 2 },
      { polled: true, eventsRead: 1 },
    ]);
    expect(flowmailer.ranges).toEqual(['items=:2', 'items=ref-2:2', 'items=ref-4:2']);
    expect(await stored()).toEqual([
      {
        provider: 'flowmailer',
        eventId: 'e2',
        state: 'pending',
        feedback: {
          provider: 'flowmailer',
          eventId: 'e2',
          kind: 'delivered',
          recipient: 'ada@example.org',
          gatewayMessageId: GATEWAY_ID,
          providerMessageId: 'fm-ada',
          detail: 'Flowmailer DELIVERED',
          occurredAt: Date.parse('2026-12-01T11:00:00.000Z'),
        },
      },
      expect.objectContaining({
        eventId: 'e3',
        feedback: expect.objectContaining({
          kind: 'bounce',
          bounceClass: 'hard',
          recipient: 'bob@example.org',
        }),
      }),
      expect.objectContaining({
        eventId: 'e5',
        feedback: expect.objectContaining({
          kind: 'bounce',
          bounceClass: 'soft',
          recipient: 'eve@example.org',
        }),
      }),
    ]);
    expect(await position()).toEqual([{ feed: 'flowmailer:520', position: 'ref-5' }]);
  });

  it('resumes from the stored position after a restart, and stores each event once', async () => {
    flowmailer.add(
      { id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' },
      { id: 'e2', messageId: 'fm-bob', type: 'DELIVERED' },
    );
    await pollerFor().poll();
    flowmailer.add({ id: 'e3', messageId: 'fm-eve', type: 'COMPLAINT' });
    flowmailer.ranges.length = 0;

    await pollerFor().poll();
    await pollerFor().poll();

    expect(flowmailer.ranges).toEqual(['items=ref-2:2', 'items=ref-3:2']);
    expect((await stored()).map(({ eventId }: { eventId: string }) => eventId)).toEqual(['e1', 'e2', 'e3']);
  });

  it('keeps the pages stored before a failure, and reads the failed page again later', async () => {
    flowmailer.add(
      { id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' },
      { id: 'e2', messageId: 'fm-bob', type: 'DELIVERED' },
      { id: 'e3', messageId: 'fm-eve', type: 'HARDBOUNCE' },
    );
    const sut = pollerFor();
    await sut.pollPage();
    flowmailer.failMessageLookups = true;

    await expect(sut.poll()).rejects.toThrow('answered HTTP 503');
    expect((await stored()).map(({ eventId }: { eventId: string }) => eventId)).toEqual(['e1', 'e2']);
    expect(await position()).toEqual([{ feed: 'flowmailer:520', position: 'ref-2' }]);

    flowmailer.failMessageLookups = false;
    await sut.poll();
    expect((await stored()).map(({ eventId }: { eventId: string }) => eventId)).toEqual(['e1', 'e2', 'e3']);
  });

  it('passes over the events of a message Flowmailer no longer has, and moves the position on', async () => {
    flowmailer.add(
      { id: 'e1', messageId: 'fm-gone', type: 'DELIVERED' },
      { id: 'e2', messageId: 'fm-bob', type: 'DELIVERED' },
    );
    flowmailer.goneMessages.add('fm-gone');

    await expect(pollerFor().poll()).resolves.toEqual([
      { polled: true, eventsRead: 2 },
      { polled: true, eventsRead: 0 },
    ]);
    expect((await stored()).map(({ eventId }: { eventId: string }) => eventId)).toEqual(['e2']);
    expect(await position()).toEqual([{ feed: 'flowmailer:520', position: 'ref-2' }]);
  });

  it('takes over a lease that ran out, and the poll that lost it stores nothing over it', async () => {
    flowmailer.add({ id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' });
    flowmailer.holdPages();
    const first = pollerFor().pollPage();
    await flowmailer.pagesAsked(1);
    // The first poll stalled past its lease; Flowmailer has a new event by the time another polls.
    await database.dataSource.query(`UPDATE feedback_position SET leased_until = 1`);
    flowmailer.add({ id: 'e2', messageId: 'fm-bob', type: 'DELIVERED' });
    const second = pollerFor().pollPage();
    await flowmailer.pagesAsked(2);

    flowmailer.releasePage(1);
    await expect(second).resolves.toEqual({ polled: true, eventsRead: 2 });
    // The first poll's page ends at ref-1: it must not move the position back there.
    flowmailer.releasePages();
    await expect(first).resolves.toEqual({ polled: false, eventsRead: 0 });
    expect(flowmailer.ranges).toEqual(['items=:2', 'items=:2']);
    expect((await stored()).map(({ eventId }: { eventId: string }) => eventId)).toEqual(['e1', 'e2']);
    expect(await position()).toEqual([{ feed: 'flowmailer:520', position: 'ref-2' }]);
  });

  it('releases the lease when the poll ends, so the next poll reads at once', async () => {
    flowmailer.add({ id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' });
    await pollerFor().poll();

    expect(
      await database.dataSource.query(`SELECT leased_until AS "leasedUntil" FROM feedback_position`),
    ).toEqual([{ leasedUntil: null }]);
    flowmailer.add({ id: 'e2', messageId: 'fm-bob', type: 'DELIVERED' });
    await expect(pollerFor().poll()).resolves.toEqual([{ polled: true, eventsRead: 1 }]);
  });

  if (kind === 'postgres') {
    it('lets one replica poll at a time: the other skips while the first holds the lease', async () => {
      flowmailer.add({ id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' });
      const replica = await database.openReplica();
      flowmailer.holdPages();
      const first = pollerFor().pollPage();
      await flowmailer.pagesAsked(1);

      await expect(pollerFor(replica.transactions).pollPage()).resolves.toEqual({
        polled: false,
        eventsRead: 0,
      });
      flowmailer.releasePages();
      await expect(first).resolves.toEqual({ polled: true, eventsRead: 1 });
      expect(flowmailer.ranges).toEqual(['items=:2']);
    });

    it('keeps no transaction open while it waits for Flowmailer', async () => {
      flowmailer.add({ id: 'e1', messageId: 'fm-ada', type: 'DELIVERED' });
      flowmailer.holdPages();
      const polling = pollerFor().pollPage();
      await flowmailer.pagesAsked(1);

      const [{ open }] = await database.dataSource.query(
        `SELECT count(*)::int AS open FROM pg_stat_activity
          WHERE state LIKE 'idle in transaction%' AND datname = current_database()`,
      );
      flowmailer.releasePages();
      await expect(polling).resolves.toEqual({ polled: true, eventsRead: 1 });
      expect(open).toBe(0);
    });
  }
});
