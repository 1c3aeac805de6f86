// Against a real SMTP server (smtp-server) on 127.0.0.2-7, with certificates made for this run.
// Reply codes: RFC 5321 §4.2; enhanced codes (which smtp-server adds): RFC 3463.
import { loadConfigSlice } from '@mailgateway/config';
import {
  aFullMail,
  aMail,
  anOutboundMessage,
  describeMailDriverContract,
  FakeUpstream,
  StaticHostResolver,
  TestCertificateAuthority,
  TestCertificate,
  TestSmtpServer,
  TestSmtpServerOptions,
} from '@mailgateway/testing';
import { simpleParser } from 'mailparser';
import { UpstreamRegistry, upstreamConfig } from '../../upstream';
import type { DeliveryOutcome } from '../mail-driver.interface';
import { SmtpDriver } from './smtp.driver';
import { smtpConfig } from './smtp.settings';
import { smtp } from '.';

const HOSTNAME = 'relay.test';
const TOKEN_HOSTNAME = 'login.test';
const TOKEN_ADDRESS = '127.0.0.8';
const [REFUSING, BLACK_HOLE, GREETING_421, SERVING, SECOND, THIRD] = [2, 3, 4, 5, 6, 7].map(
  (last) => `127.0.0.${last}`,
);
const ALL = [REFUSING, BLACK_HOLE, GREETING_421, SERVING, SECOND, THIRD];

let authority: TestCertificateAuthority;
let caFile: string;
let certificate: TestCertificate;
let relay: TestSmtpServer;
const registries: UpstreamRegistry[] = [];

const registryFor = (addresses: string[], env: Record<string, string> = {}) => {
  const registry = new UpstreamRegistry(
    loadConfigSlice(upstreamConfig, {
      UPSTREAM_CA_FILE: caFile,
      UPSTREAM_ALLOW_LOCAL_ADDRESSES: 'true',
      UPSTREAM_COOLDOWN_MS: '60000',
      UPSTREAM_MAX_COOLDOWN_MS: '60000',
      ...env,
    }),
    new StaticHostResolver().set(HOSTNAME, addresses).set(TOKEN_HOSTNAME, [TOKEN_ADDRESS]),
  );
  registries.push(registry);
  return registry;
};

const startRelay = async (options: Partial<TestSmtpServerOptions> = {}) => {
  await relay?.close();
  relay = await TestSmtpServer.start({ certificate, addresses: ALL, ...options });
  await relay.refuse(REFUSING);
  await relay.blackHole(BLACK_HOLE);
  await relay.greetWith421(GREETING_421);
  contractEnv.SMTP_URL = `smtp://${HOSTNAME}:${relay.port}`;
  return relay;
};

const contractEnv: Record<string, string> = {};

beforeAll(async () => {
  authority = await TestCertificateAuthority.create();
  caFile = await authority.writeTemporaryPem();
  certificate = await authority.issue(HOSTNAME);
});

beforeEach(() => startRelay());

afterEach(async () => {
  await Promise.all(registries.splice(0).map((registry) => registry.onModuleDestroy()));
  await relay.close();
});

describeMailDriverContract({
  definition: smtp,
  env: contractEnv,
  requires: ['SMTP_URL'],
  registry: () => registryFor([SERVING]),
});

describe(SmtpDriver.name, () => {
  const signal = new AbortController().signal;
  const drivers: SmtpDriver[] = [];

  const driverFor = (
    addresses: string[],
    env: Record<string, string> = {},
    upstream: Record<string, string> = {},
  ) => {
    const driver = new SmtpDriver(
      loadConfigSlice(smtpConfig, {
        SMTP_URL: `smtp://${HOSTNAME}:${relay.port}`,
        SMTP_CONNECT_TIMEOUT_MS: '500',
        // Room for a loaded machine: a serving relay's greeting once took over 300 ms in CI. Only
        // the black-holed address waits this out, once per test that names it.
        SMTP_GREETING_TIMEOUT_MS: '2000',
        SMTP_SOCKET_TIMEOUT_MS: '2000',
        ...env,
      }),
      registryFor(addresses, upstream),
    );
    drivers.push(driver);
    return driver;
  };
  const send = (driver: SmtpDriver, mail = aMail(), id = 'message-1') =>
    driver.send(anOutboundMessage({ id, mail }), signal);

  afterEach(() => {
    for (const driver of drivers.splice(0)) driver.onModuleDestroy();
  });

  describe('message', () => {
    it('sends the rendered message over STARTTLS, verified against the hostname, Bcc only in the envelope', async () => {
      const mail = aFullMail({
        from: { address: 'billing@example.com', name: 'Billing, Example Inc.' },
        to: [{ address: 'ada@example.org', name: 'Ada Lovelace' }],
        cc: [{ address: 'grace@example.org', name: 'Grace Hopper' }],
        bcc: [{ address: 'audit@example.com', name: 'Audit' }],
        subject: 'Your invoice for März',
        htmlBody: '<p>Hello Ada</p>',
      });

      const outcome = await send(driverFor([SERVING]), mail, 'message-42');

      const [received] = relay.messages;
      expect(outcome).toEqual({
        kind: 'accepted',
        providerMessageId: expect.stringMatching(/^[0-9A-F]{12}$/),
      });
      expect(received.reply).toMatchObject({
        text: `Ok: queued as ${(outcome as { providerMessageId: string }).providerMessageId}`,
      });
      expect(received).toMatchObject({
        address: SERVING,
        secure: true,
        servername: HOSTNAME,
        mailFrom: 'billing@example.com',
        rcptTo: ['ada@example.org', 'grace@example.org', 'audit@example.com'],
      });
      const parsed = await simpleParser(received.raw);
      expect(parsed.subject).toBe('Your invoice for März');
      expect(parsed.text?.trim()).toBe('Hello Ada, your invoice is attached.');
      expect(parsed.html).toContain('<p>Hello Ada</p>');
      expect(parsed.from?.text).toBe('"Billing, Example Inc." <billing@example.com>');
      expect(parsed.messageId).toBe('<message-42@example.com>');
      expect(parsed.headers.get('x-campaign')).toBe('march');
      expect(parsed.replyTo?.value).toEqual([{ address: 'help@example.com', name: 'Help Desk' }]);
      expect(parsed.to).toMatchObject({ value: [{ address: 'ada@example.org', name: 'Ada Lovelace' }] });
      expect(parsed.cc).toMatchObject({ value: [{ address: 'grace@example.org', name: 'Grace Hopper' }] });
      expect(
        parsed.attachments.map(({ filename, contentType, content }) => ({ filename, contentType, content })),
      ).toEqual([
        { filename: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7') },
      ]);
      expect(parsed.headers.has('bcc')).toBe(false);
      expect(received.raw.toString('latin1')).not.toContain('audit@example.com');
    });

    it('takes the Message-ID domain from SMTP_MESSAGE_ID_DOMAIN, and the Message-ID as id when the relay names none', async () => {
      relay.onMessage = () => ({ code: 250, text: 'OK' });

      const outcome = await send(
        driverFor([SERVING], { SMTP_MESSAGE_ID_DOMAIN: 'mail.example.net' }),
        aMail(),
        'm-7',
      );

      expect(outcome).toEqual({ kind: 'accepted', providerMessageId: '<m-7@mail.example.net>' });
      expect((await simpleParser(relay.messages[0].raw)).messageId).toBe('<m-7@mail.example.net>');
    });

    it('speaks TLS from the first byte with smtps://', async () => {
      await startRelay({ implicitTls: true });

      const outcome = await send(driverFor([SERVING], { SMTP_URL: `smtps://${HOSTNAME}:${relay.port}` }));

      expect(outcome.kind).toBe('accepted');
      expect(relay.messages[0]).toMatchObject({ secure: true, servername: HOSTNAME });
    });
  });

  describe('security', () => {
    it('refuses a relay that offers no STARTTLS, sending nothing in plaintext', async () => {
      await startRelay({ startTls: false });

      const outcome = await send(driverFor([SERVING]));

      expect(outcome).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/STARTTLS/) });
      expect(outcome).not.toHaveProperty('outcomeUnknown');
      expect(relay.messages).toHaveLength(0);
    });

    it('refuses a certificate made for another hostname, on every address', async () => {
      await startRelay({ certificate: await authority.issue('impostor.test') });

      const outcome = await send(driverFor([SERVING, SECOND]));

      expect(outcome).toMatchObject({
        kind: 'retry',
        reason: expect.stringMatching(/altnames|certificate/i),
      });
      expect(relay.messages).toHaveLength(0);
    });

    it('refuses a certificate from an authority it does not trust', async () => {
      const stranger = await TestCertificateAuthority.create('stranger CA');
      await startRelay({ certificate: await stranger.issue(HOSTNAME) });

      const outcome = await send(driverFor([SERVING]));

      expect(outcome).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/certificate/i) });
      expect(relay.messages).toHaveLength(0);
    });
  });

  describe('authentication', () => {
    const credentials = {
      username: 'gateway',
      password: 'very-secret-password',
      accessToken: 'very-secret-token',
    };

    beforeEach(() => startRelay({ credentials }));

    it.each(['plain', 'login'])('authenticates with AUTH %s', async (method) => {
      const outcome = await send(
        driverFor([SERVING], {
          SMTP_AUTH_METHOD: method,
          SMTP_USERNAME: credentials.username,
          SMTP_PASSWORD: credentials.password,
        }),
      );

      expect(outcome.kind).toBe('accepted');
      expect(relay.messages[0].user).toBe('gateway');
    });

    it('authenticates with XOAUTH2 and a static token', async () => {
      const outcome = await send(
        driverFor([SERVING], {
          SMTP_AUTH_METHOD: 'xoauth2',
          SMTP_USERNAME: credentials.username,
          SMTP_OAUTH_TOKEN: credentials.accessToken,
        }),
      );

      expect(outcome.kind).toBe('accepted');
      expect(relay.messages[0].user).toBe('gateway');
    });

    describe('with XOAUTH2 tokens from a token endpoint (client credentials)', () => {
      let tokenEndpoint: FakeUpstream;
      const issued: string[] = [];

      beforeEach(async () => {
        issued.length = 0;
        tokenEndpoint = await FakeUpstream.start(await authority.issue(TOKEN_HOSTNAME), [TOKEN_ADDRESS]);
        tokenEndpoint.handler = (_request, response) => {
          const token =
            issued.length === 0 ? credentials.accessToken : `${credentials.accessToken}-${issued.length}`;
          issued.push(token);
          response
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }));
        };
      });

      afterEach(() => tokenEndpoint.close());

      const oauthDriver = () =>
        driverFor(
          [SERVING, SECOND, THIRD],
          {
            SMTP_AUTH_METHOD: 'xoauth2',
            SMTP_USERNAME: credentials.username,
            SMTP_OAUTH_TOKEN_URL: `https://${TOKEN_HOSTNAME}:${tokenEndpoint.port}/tenant/oauth2/v2.0/token`,
            SMTP_OAUTH_CLIENT_ID: 'gateway-client',
            SMTP_OAUTH_CLIENT_SECRET: 'very-secret-client-secret',
            SMTP_OAUTH_SCOPE: 'https://outlook.office365.com/.default',
          },
          { UPSTREAM_MAX_CONNECTIONS: '3' },
        );

      it('fetches one token and authenticates every connection with it', async () => {
        const driver = oauthDriver();

        const outcomes = await Promise.all(
          Array.from({ length: 12 }, (_, index) => send(driver, aMail(), `message-${index}`)),
        );

        expect(outcomes.every((outcome) => outcome.kind === 'accepted')).toBe(true);
        expect(relay.sessionsUsed).toBeGreaterThan(1);
        expect(relay.messages.every((message) => message.user === 'gateway')).toBe(true);
        expect(tokenEndpoint.requests).toHaveLength(1);
        expect(Object.fromEntries(new URLSearchParams(tokenEndpoint.requests[0].body))).toEqual({
          grant_type: 'client_credentials',
          client_id: 'gateway-client',
          client_secret: 'very-secret-client-secret',
          scope: 'https://outlook.office365.com/.default',
        });
      });

      it('fetches a new token when the relay refuses the one it has', async () => {
        await startRelay({ credentials: { ...credentials, accessToken: `${credentials.accessToken}-1` } });

        const outcome = await send(oauthDriver());

        expect(outcome.kind).toBe('accepted');
        expect(issued).toEqual([credentials.accessToken, `${credentials.accessToken}-1`]);
      });
    });

    it('retries refused credentials without spending the attempt, naming the settings, never the password', async () => {
      const driver = driverFor([SERVING, SECOND], {
        SMTP_USERNAME: credentials.username,
        SMTP_PASSWORD: 'wrong-password',
      });

      const outcome = await send(driver);

      expect(outcome).toEqual({
        kind: 'retry',
        reason: expect.stringMatching(/535 5\.7\.8 .*\(check SMTP_USERNAME\/SMTP_PASSWORD\)$/),
        sparesAttempt: true,
      });
      expect(JSON.stringify(outcome)).not.toContain('wrong-password');
      // Every address would refuse the same credentials: one was asked.
      expect(relay.connectionsOpened).toBe(1);
      expect(relay.messages).toHaveLength(0);
    });

    it('retries without spending the attempt when the relay wants AUTH and none is configured', async () => {
      const outcome = await send(driverFor([SERVING]));

      expect(outcome).toEqual({
        kind: 'retry',
        reason: expect.stringMatching(/^MAIL FROM: 530 5\.7\.0 .*\(the relay wants AUTH/),
        sparesAttempt: true,
      });
    });
  });

  describe('failover', () => {
    it('moves past a refusing, a black-holed and a 421-greeting address, and keeps away from them', async () => {
      const driver = driverFor([REFUSING, BLACK_HOLE, GREETING_421, SERVING]);

      const first = await send(driver, aMail(), 'message-first');
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, index) => send(driver, aMail(), `message-${index}`)),
      );

      expect([first, ...outcomes].every((outcome) => outcome.kind === 'accepted')).toBe(true);
      expect(relay.messages).toHaveLength(21);
      expect(relay.messages.every((message) => message.address === SERVING)).toBe(true);
      // The first message tried each bad address once; they cooled down, the others went straight on.
      expect(relay.connectionsTo(BLACK_HOLE)).toBe(1);
      expect(relay.connectionsTo(GREETING_421)).toBe(1);
    });

    it('answers "not taken" when no address takes a connection', async () => {
      const outcome = await send(driverFor([REFUSING, BLACK_HOLE, GREETING_421]));

      expect(outcome).toEqual({
        kind: 'retry',
        reason: expect.stringMatching(
          /^relay\.test: no address accepted a connection \(3 tried of 3; last: /,
        ),
      });
    });

    it('moves the message to another address when the connection breaks before DATA', async () => {
      relay.dropAtRecipient(SERVING);

      const outcome = await send(driverFor([SERVING, SECOND]));

      expect(outcome.kind).toBe('accepted');
      expect(relay.messages.map((message) => message.address)).toEqual([SECOND]);
    });

    it('leaves the outcome unknown on a timeout after the final dot, and sends it nowhere else', async () => {
      relay.onMessage = () => 'hang';

      const outcome = await send(driverFor([SERVING, SECOND], { SMTP_SOCKET_TIMEOUT_MS: '400' }));

      expect(outcome).toEqual({
        kind: 'retry',
        reason: expect.stringMatching(/after the final dot; the relay may have taken the message$/),
        outcomeUnknown: true,
      });
      expect(relay.messages).toHaveLength(1);
    });
  });

  describe('shutdown', () => {
    it('stops waiting for a relay that does not greet when the shutdown signal aborts', async () => {
      const driver = driverFor([BLACK_HOLE], { SMTP_GREETING_TIMEOUT_MS: '30000' });
      const shutdown = new AbortController();

      const sending = driver.send(anOutboundMessage(), shutdown.signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      shutdown.abort(new Error('shutting down'));

      await expect(sending).rejects.toThrow('shutting down');
    });
  });

  describe('connections', () => {
    it('reuses connections: 60 messages, 20 at a time, over at most UPSTREAM_MAX_CONNECTIONS (3)', async () => {
      const driver = driverFor([SERVING, SECOND, THIRD], {}, { UPSTREAM_MAX_CONNECTIONS: '3' });

      const outcomes: DeliveryOutcome[] = [];
      for (let round = 0; round < 3; round++) {
        outcomes.push(
          ...(await Promise.all(
            Array.from({ length: 20 }, (_, index) => send(driver, aMail(), `message-${round}-${index}`)),
          )),
        );
      }

      expect(outcomes.every((outcome) => outcome.kind === 'accepted')).toBe(true);
      expect(relay.messages).toHaveLength(60);
      expect(relay.connectionsOpened).toBeLessThanOrEqual(3);
      expect(relay.maxOpenConnections).toBeLessThanOrEqual(3);
      expect(relay.sessionsUsed).toBeLessThanOrEqual(3);
    });

    it('opens a new connection after SMTP_MAX_MESSAGES_PER_CONNECTION', async () => {
      const driver = driverFor([SERVING], { SMTP_MAX_MESSAGES_PER_CONNECTION: '5' });

      for (let index = 0; index < 12; index++) await send(driver, aMail(), `message-${index}`);

      expect(relay.messages).toHaveLength(12);
      expect(relay.sessionsUsed).toBe(3);
    });
  });

  describe('answers', () => {
    it('retries a 451 with the wait the relay asks for, on the same connection, then delivers', async () => {
      let answered = 0;
      relay.onMessage = () =>
        answered++ === 0
          ? { code: 451, text: 'Greylisted, please try again in 30 seconds' }
          : { code: 250, text: 'Ok: queued as 4FX2K6' };
      const driver = driverFor([SERVING]);

      const first = await send(driver);
      const second = await send(driver);

      expect(first).toEqual({
        kind: 'retry',
        reason: 'DATA: 451 4.3.0 Greylisted, please try again in 30 seconds',
        retryAfterMs: 30_000,
      });
      expect(second).toEqual({ kind: 'accepted', providerMessageId: '4FX2K6' });
      expect(relay.sessionsUsed).toBe(1);
    });

    it('fails a message refused after the final dot with 5xx for good', async () => {
      relay.onMessage = () => ({ code: 554, text: 'Message rejected as spam' });

      await expect(send(driverFor([SERVING]))).resolves.toEqual({
        kind: 'permanent',
        reason: 'DATA: 554 5.6.0 Message rejected as spam',
      });
    });

    it('delivers to the recipients taken and reports those refused', async () => {
      relay.refuseRecipient('nobody@example.org');
      relay.refuseRecipient('full@example.org', 452, 'Mailbox full, try again in 2 minutes');
      const mail = aMail({
        to: [
          { address: 'ada@example.org', name: '' },
          { address: 'nobody@example.org', name: '' },
        ],
        bcc: [{ address: 'full@example.org', name: '' }],
      });

      const outcome = await send(driverFor([SERVING]), mail);

      expect(outcome).toEqual({
        kind: 'accepted',
        providerMessageId: expect.any(String),
        refusedRecipients: [
          {
            address: 'nobody@example.org',
            reason: '550 5.1.1 <nobody@example.org>: No such user here',
            permanent: true,
          },
          {
            address: 'full@example.org',
            reason: '452 4.2.2 Mailbox full, try again in 2 minutes',
            permanent: false,
          },
        ],
      });
      expect(relay.messages[0].rcptTo).toEqual(['ada@example.org']);
    });

    it('fails a message whose every recipient is refused with 5xx', async () => {
      relay.refuseRecipient('ada@example.org');

      await expect(send(driverFor([SERVING]))).resolves.toEqual({
        kind: 'permanent',
        reason: 'every recipient refused: 550 5.1.1 <ada@example.org>: No such user here',
      });
    });

    it('retries a message whose every recipient is refused when one refusal is temporary', async () => {
      relay.refuseRecipient('ada@example.org');
      relay.refuseRecipient('grace@example.org', 450, 'Mailbox busy, retry in 45 s');
      const mail = aMail({ cc: [{ address: 'grace@example.org', name: '' }] });

      await expect(send(driverFor([SERVING]), mail)).resolves.toEqual({
        kind: 'retry',
        reason:
          'every recipient refused: 550 5.1.1 <ada@example.org>: No such user here; 450 4.2.1 Mailbox busy, retry in 45 s',
        retryAfterMs: 45_000,
      });
    });
  });
});
