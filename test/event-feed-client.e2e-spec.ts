import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import {
  FeedEvent,
  FeedItem,
  FollowEventsOptions,
  GatewayClientOptions,
  MailGatewayAdminClient,
  MailGatewayClient,
  MessageEventType,
  SuppressedRecipients,
} from '@mailgateway/client';
import {
  aMail,
  DATABASE_KINDS,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';

const CLI_MAIN = join(__dirname, '..', 'dist/apps/cli/apps/cli/src/main.js');
/** What the sandbox driver records for each delivered message, in order. */
const DELIVERED_HISTORY: MessageEventType[] = [
  'MESSAGE_EVENT_TYPE_ACCEPTED',
  'MESSAGE_EVENT_TYPE_ATTEMPT_STARTED',
  'MESSAGE_EVENT_TYPE_DELIVERED',
];
const FAST_RECONNECT: FollowEventsOptions['reconnect'] = { initialDelayMs: 50, maxDelayMs: 500 };

/** A follower running in the background: what it has yielded so far, and how to stop it. */
interface Follower {
  readonly items: FeedItem[];
  readonly events: FeedEvent[];
  /** Aborts the signal; resolves once the iteration has ended (rejects if it failed). */
  stop(): Promise<void>;
  /** Settles when the iteration ends by itself. */
  readonly ended: Promise<void>;
}

function follow(client: MailGatewayClient, options: FollowEventsOptions = {}): Follower {
  const controller = new AbortController();
  const items: FeedItem[] = [];
  const ended = (async () => {
    for await (const item of client.followEvents({ signal: controller.signal, ...options })) items.push(item);
  })();
  ended.catch(() => undefined); // observed by stop() or by the test
  return {
    items,
    get events() {
      return items.flatMap((item) => (item.kind === 'event' ? [item.event] : []));
    },
    stop: async () => {
      controller.abort();
      await ended;
    },
    ended,
  };
}

/** The CLI as a long-running process: its stdout lines so far, and a signal to stop it. */
class CliProcess {
  private stdout = '';
  private stderr = '';
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Readonly<Record<string, string>>) {
    this.child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Complete lines printed so far. */
  get lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  async stop(signal: NodeJS.Signals) {
    this.child.kill(signal);
    return this.exited;
  }
}

describe.each(DATABASE_KINDS)(
  'The event feed through @mailgateway/client and the CLI, a gateway process on %s',
  (kind) => {
    let database: TestDatabase;
    let gateway: GatewayProcess;
    let env: Record<string, string>;
    let address: string;
    let admin: MailGatewayAdminClient;
    let scratch: string;
    const clients: MailGatewayClient[] = [];
    let sources = 0;

    beforeAll(async () => {
      if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
      database = await provisionTestDatabase(kind);
      scratch = await mkdtemp(join(tmpdir(), 'mailgateway-feed-client-'));
      const port = await freePort();
      address = `127.0.0.1:${port}`;
      env = {
        ...database.env,
        GRPC_PORT: String(port),
        DELIVERY_POLL_INTERVAL_MS: '20',
        FEED_HEARTBEAT_MS: '300',
      };
      gateway = await GatewayProcess.start(env);
      admin = new MailGatewayAdminClient({ address, apiKey: TEST_API_KEY });
    });

    afterAll(async () => {
      for (const client of clients) client.close();
      admin?.close();
      if (gateway) {
        gateway.kill('SIGTERM');
        await gateway.exited;
      }
      await database?.drop();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    /** A source of its own (so a feed of its own) that may send and read, and its key. */
    const newSource = async () => {
      const name = `feed-reader-${++sources}`;
      await admin.createSource({
        source: {
          name,
          roles: ['mail.send', 'mail.read'],
          policy: {
            allowedFromDomains: [],
            maxRecipients: 0,
            rateLimitMessages: 0,
            drivers: [],
            suppressedRecipients: SuppressedRecipients.SUPPRESSED_RECIPIENTS_UNSPECIFIED,
          },
          certificateIdentity: '',
          createdAt: undefined,
          updatedAt: undefined,
        },
      });
      const { key } = await admin.createApiKey({ source: name, expiresInSeconds: 0 });
      return { key, client: connect(key) };
    };

    /** A client of the mail service with `key`; closed after the suite. */
    const connect = (key: string, options: Partial<GatewayClientOptions> = {}) => {
      const client = new MailGatewayClient({ address, apiKey: key, ...options });
      clients.push(client);
      return client;
    };

    const send = async (client: MailGatewayClient, count: number) => {
      const sent = await Promise.all(
        Array.from({ length: count }, () => client.send(aMail({ subject: 'feed' }))),
      );
      return sent.map(({ messageId }) => messageId);
    };

    /** Every event of the client's feed, by ListEvents pages from the start, in feed order. */
    const listAll = async (client: MailGatewayClient, pageSize = 1000) => {
      const events: FeedEvent[] = [];
      let cursor = '';
      for (;;) {
        const page = await client.listEvents({ cursor, pageSize, filter: undefined });
        events.push(...page.events);
        cursor = page.nextCursor;
        if (page.events.length < pageSize) return events;
      }
    };

    /** Waits until every one of `messages` messages has its three events in the feed. */
    const settledFeed = (client: MailGatewayClient, messages: number) =>
      waitFor(
        `${messages * 3} events in the feed`,
        async () => {
          const events = await listAll(client);
          return events.length >= messages * 3 ? events : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );

    const ids = (events: readonly { eventId: string }[]) => events.map((event) => event.eventId);

    /** Each message's event types, in the order given. */
    const historyByMessage = (events: readonly FeedEvent[]) => {
      const histories = new Map<string, MessageEventType[]>();
      for (const event of events)
        histories.set(event.messageId, [...(histories.get(event.messageId) ?? []), event.type]);
      return histories;
    };

    it("follows a source's sends live, in the order ListEvents pages them, with heartbeats while idle", async () => {
      const { client } = await newSource();
      const everything = follow(client);
      const deliveredOnly = follow(client, {
        filter: { types: ['MESSAGE_EVENT_TYPE_DELIVERED'] },
      });

      const sent = await send(client, 5);
      await waitFor('15 events followed', () => (everything.events.length >= 15 ? true : undefined));
      await waitFor('a heartbeat once idle', () =>
        everything.items.at(-1)?.kind === 'heartbeat' ? true : undefined,
      );
      await everything.stop();
      await waitFor('5 deliveries followed', () => (deliveredOnly.events.length >= 5 ? true : undefined));
      await deliveredOnly.stop();

      const listed = await listAll(client, 4);
      expect(ids(everything.events)).toEqual(ids(listed));
      expect(new Set(everything.events.map((event) => event.messageId))).toEqual(new Set(sent));
      for (const history of historyByMessage(everything.events).values())
        expect(history).toEqual(DELIVERED_HISTORY);
      expect(deliveredOnly.events.map((event) => [event.messageId, event.type]).sort()).toEqual(
        sent.map((id) => [id, 'MESSAGE_EVENT_TYPE_DELIVERED']).sort(),
      );
      // Every item's cursor resumes after it: from the last event's, nothing is left to read.
      const lastEvent = everything.items.filter((item) => item.kind === 'event').at(-1)!;
      expect(
        (await client.listEvents({ cursor: lastEvent.cursor, pageSize: 0, filter: undefined })).events,
      ).toEqual([]);
    });

    it("ends with the gateway's refusal, without reconnecting, when the cursor is not one it issued", async () => {
      const { client } = await newSource();

      const follower = follow(client, { cursor: 'not-a-cursor', reconnect: FAST_RECONNECT });

      await expect(follower.ended).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(follower.items).toEqual([]);
    });

    it.each(['SIGTERM', 'SIGKILL'] as const)(
      'resumes after the gateway process is restarted (%s), losing and repeating no event',
      async (signal) => {
        const { key, client } = await newSource();
        const follower = follow(client, { reconnect: FAST_RECONNECT });
        // More events than the client's de-duplication window before the restart: a reconnect from
        // any cursor but the last would show as repeats.
        await send(client, 40);
        await waitFor('120 events followed', () => (follower.events.length >= 120 ? true : undefined), {
          timeoutMs: 30_000,
        });

        if (signal === 'SIGKILL') await gateway.crash();
        else {
          gateway.kill('SIGTERM');
          await gateway.exited;
        }
        gateway = await GatewayProcess.start(env);
        // grpc-js shares connections between clients, and the follower's may still be waiting out
        // its reconnect backoff (calls fail at once meanwhile): the sender connects on its own.
        const sender = connect(key, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
        await send(sender, 5);
        const listed = await settledFeed(sender, 45);
        await waitFor('135 events followed', () => (follower.events.length >= 135 ? true : undefined), {
          timeoutMs: 30_000,
        });
        await follower.stop();

        expect(ids(follower.events)).toEqual(ids(listed));
      },
    );

    it('events --follow --cursor-file, stopped and started again, prints every event exactly once', async () => {
      const { key, client } = await newSource();
      const cursorFile = join(scratch, 'follow.cursor');
      const cliEnv = { MAILGATEWAY_ADDRESS: address, MAILGATEWAY_API_KEY: key };
      const args = ['events', '--follow', '--cursor-file', cursorFile, '--json'];

      // The first run is stopped once it has printed some of the events of ten sends.
      const first = new CliProcess(args, cliEnv);
      const sending = send(client, 10);
      await waitFor('the first run to print some events', () => (first.lines.length >= 4 ? true : undefined));
      const firstRun = await first.stop('SIGTERM');
      await sending;
      const stored = (await readFile(cursorFile, 'utf8')).trim();
      // Sent while no reader runs.
      await send(client, 5);

      const second = new CliProcess(args, cliEnv);
      await send(client, 5);
      const listed = await settledFeed(client, 20);
      await waitFor('the second run to print the rest', () =>
        firstRun.stdout.split('\n').length - 1 + second.lines.length >= listed.length ? true : undefined,
      );
      const secondRun = await second.stop('SIGINT');

      expect([firstRun.code, firstRun.stderr, secondRun.code, secondRun.stderr]).toEqual([0, '', 0, '']);
      expect(stored).not.toBe('');
      const printed = [firstRun.stdout, secondRun.stdout]
        .flatMap((stdout) => stdout.split('\n').slice(0, -1))
        .map((line) => JSON.parse(line) as { eventId: string; messageId: string; type: string });
      expect(ids(printed)).toEqual(ids(listed));
      expect(printed[0]).toEqual({
        eventId: listed[0].eventId,
        messageId: listed[0].messageId,
        type: 'MESSAGE_EVENT_TYPE_ACCEPTED',
        attempt: 0,
        occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        recordedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        detail: listed[0].detail,
        tags: [],
        metadata: {},
        sendAt: null,
      });
    });

    it('events reads a page per run from its cursor file, --all reads to the end, --type filters', async () => {
      const { key, client } = await newSource();
      const sent = await send(client, 3);
      const listed = await settledFeed(client, 3);
      const cursorFile = join(scratch, 'pages.cursor');
      const run = (args: string[]) => {
        const cli = new CliProcess(['events', ...args], {
          MAILGATEWAY_ADDRESS: address,
          MAILGATEWAY_API_KEY: key,
        });
        return cli.exited;
      };

      const firstPage = await run(['--page-size', '4', '--cursor-file', cursorFile]);
      const secondPage = await run(['--page-size', '4', '--cursor-file', cursorFile]);
      const everything = await run(['--all', '--page-size', '2']);
      const delivered = await run(['--type', 'delivered', '--json']);
      const badType = await run(['--type', 'BOUNCED']);

      const lines = (stdout: string) => stdout.split('\n').slice(0, -1);
      for (const { code, stderr } of [firstPage, secondPage, everything, delivered]) {
        expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      }
      expect(lines(firstPage.stdout)).toHaveLength(4);
      expect(lines(secondPage.stdout)).toHaveLength(4);
      expect(lines(everything.stdout)).toHaveLength(9);
      // time, message id, type, attempt, detail
      const human = lines(everything.stdout).map((line) =>
        /^(\S+Z) {2}([0-9a-f-]{36}) {2}(\S+) +(-|#\d+) +(.+)$/.exec(line)?.slice(2, 5),
      );
      expect(human).toEqual(
        listed.map((event) => [
          event.messageId,
          event.type.replace('MESSAGE_EVENT_TYPE_', ''),
          event.attempt ? `#${event.attempt}` : '-',
        ]),
      );
      expect([...lines(firstPage.stdout), ...lines(secondPage.stdout)]).toEqual(
        lines(everything.stdout).slice(0, 8),
      );
      expect(
        lines(delivered.stdout)
          .map((line) => (JSON.parse(line) as FeedEvent).messageId)
          .sort(),
      ).toEqual([...sent].sort());
      expect(badType.code).toBe(1);
      expect(badType.stderr).toContain("option '--type <type>' argument 'BOUNCED' is invalid");
    });
  },
);
