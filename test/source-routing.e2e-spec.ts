import { status } from '@grpc/grpc-js';
import { GetMessageResponse, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  FakeUpstream,
  StaticHostResolver,
  TestCertificateAuthority,
  TestSmtpServer,
  waitFor,
} from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayPerTest } from './support/test-gateway';

/** Three providers, each under its own hostname, all served by one HTTPS upstream on 127.0.0.2. */
const POSTMARK = 'api.postmark.test';
const SENDGRID = 'api.sendgrid.test';
const HTTP = 'api.relay.test';
const ADDRESS = '127.0.0.2';
/** And an SMTP relay on 127.0.0.3. */
const SMTP = 'smtp.relay.test';
const SMTP_ADDRESS = '127.0.0.3';

describe.each(DATABASE_KINDS)('Routing per source on %s', (kind) => {
  const perTest = gatewayPerTest(kind);
  const { gateway } = perTest;
  let upstream: FakeUpstream;
  let relay: TestSmtpServer;
  let caFile: string;
  const hostOf = (request: { headers: Record<string, unknown> }) =>
    String(request.headers.host ?? '').replace(/:\d+$/, '');

  beforeEach(async () => {
    const authority = await TestCertificateAuthority.create();
    caFile = await authority.writeTemporaryPem();
    upstream = await FakeUpstream.start(await authority.issue(POSTMARK, SENDGRID, HTTP), [ADDRESS]);
    relay = await TestSmtpServer.start({
      certificate: await authority.issue(SMTP),
      addresses: [SMTP_ADDRESS],
    });
    // Postmark is down; the other two take every message.
    upstream.handler = (request, response) => {
      if (hostOf(request) === POSTMARK) return void response.writeHead(503).end('{"Message":"down"}');
      if (hostOf(request) === SENDGRID) return void response.writeHead(202, { 'x-message-id': 'sg-1' }).end();
      response.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"relay-1"}');
    };
    await perTest.start(
      {
        UPSTREAM_CA_FILE: caFile,
        UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
        MAIL_DRIVER: 'http',
        HTTP_DRIVER_URL: `https://${HTTP}:${upstream.port}/v1/messages`,
        HTTP_DRIVER_AUTH_VALUE: 'Bearer test-token',
        EXTRA_MAIL_DRIVERS: 'postmark,sendgrid,smtp',
        SMTP_URL: `smtp://${SMTP}:${relay.port}`,
        POSTMARK_API_URL: `https://${POSTMARK}:${upstream.port}`,
        POSTMARK_SERVER_TOKEN: 'postmark-token',
        SENDGRID_API_URL: `https://${SENDGRID}:${upstream.port}`,
        SENDGRID_API_KEY: 'SG.test-key',
        FALLBACK_AFTER_FAILURES: '2',
      },
      {
        resolver: new StaticHostResolver()
          .set(POSTMARK, [ADDRESS])
          .set(SENDGRID, [ADDRESS])
          .set(HTTP, [ADDRESS])
          .set(SMTP, [SMTP_ADDRESS]),
      },
    );
  });

  afterEach(async () => {
    await upstream.close();
    await relay.close();
  });

  const attemptsBy = (message: GetMessageResponse) =>
    message.events
      .filter((event) => event.provider !== '')
      .map((event) => [event.attempt, MessageEventType[event.type], event.provider]);

  it("sends each source's mail along its own chain, moving on when a provider fails", async () => {
    const billing = gateway.connect(
      await gateway.addSource('billing', ['mail.send', 'mail.read'], { drivers: ['postmark', 'smtp'] }),
    );
    const reports = gateway.connect(
      await gateway.addSource('reports', ['mail.send', 'mail.read'], { drivers: ['sendgrid'] }),
    );

    const billed = await billing.sendMail(aSendMailRequest({ subject: 'invoice' }));
    const reported = await reports.sendMail(aSendMailRequest({ subject: 'report' }));
    const plain = await gateway.client.sendMail(aSendMailRequest({ subject: 'default chain' }));

    const billingMessage = await finalState(billing, billed.messageId);
    expect(billingMessage.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(billingMessage.provider).toBe('smtp');
    expect(attemptsBy(billingMessage)).toEqual([
      [1, 'MESSAGE_EVENT_TYPE_RETRY_SCHEDULED', 'postmark'],
      [2, 'MESSAGE_EVENT_TYPE_RETRY_SCHEDULED', 'postmark'],
      [3, 'MESSAGE_EVENT_TYPE_DELIVERED', 'smtp'],
    ]);

    const reportsMessage = await finalState(reports, reported.messageId);
    expect(attemptsBy(reportsMessage)).toEqual([[1, 'MESSAGE_EVENT_TYPE_DELIVERED', 'sendgrid']]);
    const plainMessage = await gateway.finalState(plain.messageId);
    expect(attemptsBy(plainMessage)).toEqual([[1, 'MESSAGE_EVENT_TYPE_DELIVERED', 'http']]);

    // What each upstream saw: two billing attempts at Postmark, then billing's message at the relay.
    const subjects = (host: string) =>
      upstream.requests.filter((request) => hostOf(request) === host).map((request) => request.body);
    expect(subjects(POSTMARK)).toHaveLength(2);
    expect(subjects(POSTMARK).every((body) => body.includes('invoice'))).toBe(true);
    expect(subjects(SENDGRID)).toEqual([expect.stringContaining('report')]);
    expect(subjects(HTTP)).toEqual([expect.stringContaining('default chain')]);
    expect(relay.messages.map((message) => message.raw.toString())).toEqual([
      expect.stringContaining('Subject: invoice'),
    ]);

    // The feed carries the same providers.
    const { events } = await billing.listEvents({ cursor: '', pageSize: 100, filter: undefined });
    expect(events.filter((event) => event.provider).map((event) => event.provider)).toEqual([
      'postmark',
      'postmark',
      'smtp',
    ]);
  });

  it('takes a changed chain from the next attempt on, and shows it in ListSources', async () => {
    const key = await gateway.addSource('reports', ['mail.send', 'mail.read'], { drivers: ['sendgrid'] });
    const reports = gateway.connect(key);
    const first = await reports.sendMail(aSendMailRequest({ subject: 'first' }));
    expect((await finalState(reports, first.messageId)).provider).toBe('sendgrid');

    const [source] = (await gateway.admin.listSources()).sources.filter(({ name }) => name === 'reports');
    expect(source.policy?.drivers).toEqual(['sendgrid']);
    await gateway.admin.updateSource({
      source: { ...source, policy: { ...source.policy!, drivers: ['http'] } },
    });

    const second = await reports.sendMail(aSendMailRequest({ subject: 'second' }));
    expect((await finalState(reports, second.messageId)).provider).toBe('http');
    const [updated] = (await gateway.admin.listSources()).sources.filter(({ name }) => name === 'reports');
    expect(updated.policy?.drivers).toEqual(['http']);
  });

  it('refuses a chain naming a driver this gateway does not run, or one twice, and stores nothing', async () => {
    await expectGrpcError(
      gateway.addSource('billing', ['mail.send'], { drivers: ['postmark', 'flowmailer'] }),
      status.INVALID_ARGUMENT,
      /^policy\.drivers\[1\]: driver "flowmailer" does not run in this gateway \(running: http, postmark, sendgrid, smtp;/,
    );
    await expectGrpcError(
      gateway.addSource('billing', ['mail.send'], { drivers: ['postmark', 'postmark'] }),
      status.INVALID_ARGUMENT,
      /^policy\.drivers\[1\]: "postmark" is already in the chain/,
    );
    await expectGrpcError(
      gateway.addSource('billing', ['mail.send'], {
        drivers: ['http', 'postmark', 'sendgrid', 'a', 'b', 'c'],
      }),
      status.INVALID_ARGUMENT,
      /^policy\.drivers(\[\d\])?: /,
    );
    expect((await gateway.admin.listSources()).sources.map(({ name }) => name)).not.toContain('billing');
  });

  async function finalState(client: ReturnType<typeof gateway.connect>, messageId: string) {
    const final: readonly MessageStatus[] = [
      MessageStatus.MESSAGE_STATUS_DELIVERED,
      MessageStatus.MESSAGE_STATUS_FAILED,
      MessageStatus.MESSAGE_STATUS_EXPIRED,
    ];
    return waitFor(`message ${messageId} to be final`, async () => {
      const message = await client.getMessage({ messageId });
      return final.includes(message.status) ? message : undefined;
    });
  }
});
