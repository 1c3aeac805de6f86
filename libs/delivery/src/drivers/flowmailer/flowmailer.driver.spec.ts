// Flowmailer REST API v1.12: base URLs (api.flowmailer.net, login.flowmailer.net), the
// application/vnd.flowmailer.v1.12+json media type, OAuth2 client credentials, POST
// /{account_id}/messages/submit answering 201 Created with a Location header, and the SubmitMessage
// model: https://flowmailer.com/apidoc/flowmailer-api.html
// Field names and error bodies as the official SDK uses them (SubmitMessage, Attachment,
// OAuthTokenResponse models; Location's last segment as the id; 400/403 carry {"allErrors":[...]},
// 401 an OAuth error; one token refresh on 401):
//   https://github.com/flowmailer/flowmailer-php-sdk (src/Model/SubmitMessage.php,
//   src/Model/Attachment.php, src/Flowmailer.php, src/Plugin/AuthTokenPlugin.php)
// The per-status error table (403, 429 semantics) was not available to us; see the driver comment.
import { loadConfigSlice } from '@mailgateway/config';
import {
  aFullMail,
  aMail,
  anOutboundMessage,
  describeMailDriverContract,
  type ScriptedReply,
  ScriptedUpstream,
  ScriptedUpstreamRegistry,
} from '@mailgateway/testing';
import { flowmailerConfig } from './flowmailer.settings';
import { UpstreamOutcomeUnknownException, UpstreamUnavailableException } from '../../upstream';
import { FlowmailerDriver } from './flowmailer.driver';
import { flowmailer } from '.';

describeMailDriverContract({
  definition: flowmailer,
  env: { FLOWMAILER_ACCOUNT_ID: '520', FLOWMAILER_CLIENT_ID: 'client', FLOWMAILER_CLIENT_SECRET: 'secret' },
  requires: ['FLOWMAILER_ACCOUNT_ID', 'FLOWMAILER_CLIENT_ID', 'FLOWMAILER_CLIENT_SECRET'],
  upstream: {
    origin: 'https://api.flowmailer.net',
    accepted: { statusCode: 201, headers: { location: 'https://api.flowmailer.net/520/messages/fm-1' } },
    prepare: (registry) =>
      registry
        .client('https://login.flowmailer.net')
        .reply({ statusCode: 200, body: { access_token: 'token', token_type: 'bearer', expires_in: 60 } }),
  },
});

describe(FlowmailerDriver.name, () => {
  const clientSecret = 'very-secret-client-secret';
  const env = {
    FLOWMAILER_ACCOUNT_ID: '520',
    FLOWMAILER_CLIENT_ID: 'client-a',
    FLOWMAILER_CLIENT_SECRET: clientSecret,
  };
  const mediaType = 'application/vnd.flowmailer.v1.12+json';
  const signal = new AbortController().signal;
  const message = (mail = aMail()) => anOutboundMessage({ mail });
  const grant = (token: string): ScriptedReply => ({
    statusCode: 200,
    body: { access_token: token, token_type: 'bearer', expires_in: 60, scope: 'api' },
  });
  const created = (id: string): ScriptedReply => ({
    statusCode: 201,
    headers: { location: `https://api.flowmailer.net/520/messages/${id}` },
  });
  let registry: ScriptedUpstreamRegistry;
  let login: ScriptedUpstream;
  let api: ScriptedUpstream;
  let sut: FlowmailerDriver;

  beforeEach(() => {
    registry = new ScriptedUpstreamRegistry();
    login = registry.client('https://login.flowmailer.net');
    api = registry.client('https://api.flowmailer.net');
    sut = new FlowmailerDriver(loadConfigSlice(flowmailerConfig, env), registry.asRegistry());
  });

  describe('request', () => {
    it('gets a client credentials token with scope api', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'));

      await sut.send(message(), signal);

      expect(login.requests[0]).toMatchObject({
        method: 'POST',
        path: '/oauth/token',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: mediaType },
      });
      expect(Object.fromEntries(new URLSearchParams(String(login.requests[0].body)))).toEqual({
        grant_type: 'client_credentials',
        client_id: 'client-a',
        client_secret: clientSecret,
        scope: 'api',
      });
    });

    it('submits with the token and the Flowmailer media type, not marked idempotent', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'));

      await sut.send(message(), signal);

      expect(api.requests[0]).toEqual({
        method: 'POST',
        path: '/520/messages/submit',
        headers: { Authorization: 'Bearer token-1', 'Content-Type': mediaType, Accept: mediaType },
        body: expect.any(String),
        idempotent: false,
        signal,
      });
      expect(sut.forwardsIdempotencyKey).toBe(false);
    });

    it('maps the message to a SubmitMessage', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'));
      // One envelope recipient: one submission.
      const mail = aFullMail({
        cc: [],
        bcc: [],
        replyTo: [
          { address: 'help@example.com', name: 'Help, Desk' },
          { address: 'sales@example.com', name: '' },
        ],
      });

      await sut.send(message(mail), signal);

      expect(api.json()).toEqual({
        messageType: 'EMAIL',
        senderAddress: 'billing@example.com',
        headerFromAddress: 'billing@example.com',
        headerFromName: 'Billing',
        recipientAddress: 'ada@example.org',
        headerToAddress: 'ada@example.org',
        headerToName: 'Ada Lovelace',
        subject: 'Your invoice',
        text: 'Hello Ada, your invoice is attached.',
        html: '<p>Hello Ada</p>',
        attachments: [
          {
            content: 'JVBERi0xLjc=',
            contentType: 'application/pdf',
            filename: 'invoice.pdf',
            disposition: 'attachment',
          },
        ],
        headers: [
          { name: 'X-Campaign', value: 'march' },
          { name: 'X-Priority', value: '1' },
          { name: 'X-Mailgateway-Message-Id', value: 'message-1' },
          { name: 'Reply-To', value: '"Help, Desk" <help@example.com>, sales@example.com' },
        ],
        tags: ['invoice', 'march'],
        data: { customer: '42', mailgateway_id: 'message-1' },
      });
    });

    it("tells Flowmailer the gateway's message id in a header and in data, on every recipient's copy", async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), created('m2'));
      const id = '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90';

      await sut.send(
        anOutboundMessage({ id, mail: aMail({ cc: [{ address: 'grace@example.org', name: '' }] }) }),
        signal,
      );

      expect(api.requests).toHaveLength(2);
      for (const request of api.requests) {
        expect(JSON.parse(request.body as string)).toMatchObject({
          headers: [{ name: 'X-Mailgateway-Message-Id', value: id }],
          data: { mailgateway_id: id },
        });
      }
    });

    it('submits once per envelope recipient, in order, each address once', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), created('m2'), created('m3'), created('m4'));
      const mail = aMail({
        to: [
          { address: 'ada@example.org', name: 'Ada' },
          { address: 'charles@example.org', name: '' },
        ],
        cc: [{ address: 'grace@example.org', name: 'Grace' }],
        bcc: [
          { address: 'audit@example.com', name: 'Audit' },
          { address: 'ADA@example.org', name: 'Ada again' },
        ],
      });

      const outcome = await sut.send(message(mail), signal);

      const bodies = api.requests.map((_request, index) => api.json(index) as Record<string, unknown>);
      expect(
        bodies.map(({ recipientAddress, headerToAddress, headerToName }) => [
          recipientAddress,
          headerToAddress,
          headerToName,
        ]),
      ).toEqual([
        ['ada@example.org', 'ada@example.org', 'Ada'],
        ['charles@example.org', 'charles@example.org', undefined],
        ['grace@example.org', 'ada@example.org', 'Ada'],
        ['audit@example.com', 'ada@example.org', 'Ada'],
      ]);
      expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'm1,m2,m3,m4' });
      expect(login.requests).toHaveLength(1);
    });

    it('shows a bcc-only recipient itself in the To header', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'));

      await sut.send(
        message(aMail({ to: [], bcc: [{ address: 'audit@example.com', name: 'Audit' }] })),
        signal,
      );

      expect(api.json()).toMatchObject({
        recipientAddress: 'audit@example.com',
        headerToAddress: 'audit@example.com',
        headerToName: 'Audit',
      });
    });

    it('reuses the token for the next message', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), created('m2'));

      await sut.send(message(), signal);
      await sut.send(message(), signal);

      expect(login.requests).toHaveLength(1);
      expect(api.requests.map((request) => request.headers?.Authorization)).toEqual([
        'Bearer token-1',
        'Bearer token-1',
      ]);
    });
  });

  describe('answers', () => {
    it('accepts 201 Created with the id from Location', async () => {
      login.reply(grant('token-1'));
      api.reply(created('20150108130512cf8bce8c6ce75c5b07'));

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'accepted',
        providerMessageId: '20150108130512cf8bce8c6ce75c5b07',
      });
    });

    it('accepts a 201 without Location, without an id', async () => {
      login.reply(grant('token-1'));
      api.reply({ statusCode: 201 });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind: 'accepted' });
    });

    it('keeps the joined ids of many recipients within 255 characters', async () => {
      const to = Array.from({ length: 12 }, (_, i) => ({ address: `r${i}@example.org`, name: '' }));
      login.reply(grant('token-1'));
      api.reply(...to.map((_, i) => created(`${String(i).padStart(2, '0')}${'x'.repeat(30)}`)));

      const outcome = await sut.send(message(aMail({ to })), signal);

      expect(outcome.kind).toBe('accepted');
      const id = outcome.kind === 'accepted' ? (outcome.providerMessageId ?? '') : '';
      expect(id.length).toBeLessThanOrEqual(255);
      expect(id).toMatch(/^00x{30},01x{30},.*,\+\d+ more$/);
    });

    it.each([
      [400, 'permanent', 'HTTP 400'],
      [403, 'retry', 'HTTP 403 (the API client lacks permission: check its roles and FLOWMAILER_ACCOUNT_ID)'],
      [404, 'retry', 'HTTP 404 (check FLOWMAILER_ACCOUNT_ID and FLOWMAILER_API_URL)'],
      [409, 'permanent', 'HTTP 409'],
      [413, 'permanent', 'HTTP 413'],
      [422, 'permanent', 'HTTP 422'],
      [429, 'retry', 'HTTP 429'],
      [500, 'retry', 'HTTP 500'],
      [502, 'retry', 'HTTP 502'],
      [503, 'retry', 'HTTP 503'],
      [504, 'retry', 'HTTP 504'],
      [302, 'retry', 'HTTP 302'],
    ])('answers %i with %s', async (statusCode, kind, reason) => {
      login.reply(grant('token-1'));
      api.reply({ statusCode });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind, reason });
    });

    it('puts Flowmailer’s validation errors into the reason', async () => {
      login.reply(grant('token-1'));
      api.reply({
        statusCode: 400,
        body: {
          allErrors: [
            {
              code: 'Email.invalid',
              defaultMessage: 'Invalid email address',
              field: 'recipientAddress',
              objectName: 'restSubmitMessage',
              rejectedValue: 'x',
            },
          ],
        },
      });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: 'HTTP 400: recipientAddress: Invalid email address (Email.invalid)',
      });
    });

    it.each([429, 503])('honours Retry-After on %i', async (statusCode) => {
      login.reply(grant('token-1'));
      api.reply({ statusCode, headers: { 'retry-after': '15' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({
        kind: 'retry',
        retryAfterMs: 15_000,
      });
    });
  });

  describe('401', () => {
    it('refreshes the token once and resends', async () => {
      login.reply(grant('token-1'), grant('token-2'));
      api.reply({ statusCode: 401, body: { error: 'invalid_token' } }, created('m1'));

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'accepted',
        providerMessageId: 'm1',
      });
      expect(login.requests).toHaveLength(2);
      expect(api.requests.map((request) => request.headers?.Authorization)).toEqual([
        'Bearer token-1',
        'Bearer token-2',
      ]);
    });

    it('retries the message when the new token is refused too', async () => {
      login.reply(grant('token-1'), grant('token-2'));
      api.reply(
        { statusCode: 401, body: { error: 'invalid_token', error_description: 'Access token expired' } },
        { statusCode: 401, body: { error: 'invalid_token', error_description: 'Access token expired' } },
      );

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason:
          'HTTP 401: invalid_token: Access token expired (a new token was refused too: check FLOWMAILER_CLIENT_ID and FLOWMAILER_CLIENT_SECRET)',
      });
      expect(api.requests).toHaveLength(2);
      expect(login.requests).toHaveLength(2);
    });
  });

  describe('token endpoint failures', () => {
    it('retries, never permanently, when the credentials are refused', async () => {
      login.reply({
        statusCode: 401,
        body: { error: 'invalid_client', error_description: 'Bad client credentials' },
      });

      const outcome = await sut.send(message(), signal);

      expect(outcome).toEqual({
        kind: 'retry',
        reason: 'Flowmailer token endpoint answered HTTP 401: invalid_client (Bad client credentials)',
      });
      expect(JSON.stringify(outcome)).not.toContain(clientSecret);
      expect(api.requests).toHaveLength(0);
    });

    it('retries when the token endpoint is unreachable', async () => {
      login.reply(new UpstreamOutcomeUnknownException('socket closed'));

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'Flowmailer token endpoint unreachable: socket closed',
      });
    });
  });

  describe('partial submission', () => {
    const three = aMail({
      to: [{ address: 'ada@example.org', name: '' }],
      cc: [{ address: 'grace@example.org', name: '' }],
      bcc: [{ address: 'audit@example.com', name: '' }],
    });

    it('flags a retry after some recipients were submitted as outcome unknown', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), { statusCode: 503 });

      await expect(sut.send(message(three), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'HTTP 503 (after 1 of 3 recipients were submitted)',
        outcomeUnknown: true,
      });
      expect(api.requests).toHaveLength(2);
    });

    it('says how far it got when a later recipient is refused', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), created('m2'), { statusCode: 400 });

      await expect(sut.send(message(three), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: 'HTTP 400 (after 2 of 3 recipients were submitted)',
      });
    });

    it('flags a transport failure after a submission as outcome unknown', async () => {
      login.reply(grant('token-1'));
      api.reply(created('m1'), new UpstreamUnavailableException('all addresses refused'));

      await expect(sut.send(message(three), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'all addresses refused (after 1 of 3 recipients were submitted)',
        outcomeUnknown: true,
      });
    });

    it('stops between recipients on shutdown', async () => {
      const controller = new AbortController();
      login.reply(grant('token-1'));
      api.reply(() => {
        controller.abort();
        return created('m1');
      });

      await expect(sut.send(message(three), controller.signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'stopped by shutdown (after 1 of 3 recipients were submitted)',
        outcomeUnknown: true,
      });
      expect(api.requests).toHaveLength(1);
    });

    it('does not flag a failure of the first recipient', async () => {
      login.reply(grant('token-1'));
      api.reply({ statusCode: 503 });

      await expect(sut.send(message(three), signal)).resolves.toEqual({ kind: 'retry', reason: 'HTTP 503' });
    });
  });
});
