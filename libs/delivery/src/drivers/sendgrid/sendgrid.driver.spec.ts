// Twilio SendGrid v3 Mail Send, request body and 202 answer with X-Message-Id:
//   https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
//   https://www.twilio.com/docs/sendgrid/api-reference/mail-send (reply_to vs reply_to_list, limits)
// Status codes and the {"errors":[{field,message}]} body:
//   https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses
//   https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors
// Rate limits (429 with X-RateLimit-Limit / -Remaining / -Reset in epoch seconds):
//   https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits
import { loadConfigSlice } from '@mailgateway/config';
import {
  aFullMail,
  aMail,
  anOutboundMessage,
  describeMailDriverContract,
  ScriptedUpstream,
  ScriptedUpstreamRegistry,
} from '@mailgateway/testing';
import { sendgridConfig } from './sendgrid.settings';
import { SendgridDriver } from './sendgrid.driver';
import { sendgrid } from '.';

describeMailDriverContract({
  definition: sendgrid,
  env: { SENDGRID_API_KEY: 'SG.contract-key' },
  requires: ['SENDGRID_API_KEY'],
  upstream: {
    origin: 'https://api.sendgrid.com',
    accepted: { statusCode: 202, headers: { 'x-message-id': 'sg-1' } },
  },
});

describe(SendgridDriver.name, () => {
  const apiKey = 'SG.very-secret-key';
  const signal = new AbortController().signal;
  const message = (mail = aMail()) => anOutboundMessage({ mail });
  let registry: ScriptedUpstreamRegistry;
  let api: ScriptedUpstream;
  let sut: SendgridDriver;

  beforeEach(() => {
    registry = new ScriptedUpstreamRegistry();
    api = registry.client('https://api.sendgrid.com');
    sut = new SendgridDriver(
      loadConfigSlice(sendgridConfig, { SENDGRID_API_KEY: apiKey }),
      registry.asRegistry(),
    );
  });

  afterEach(() => jest.restoreAllMocks());

  describe('request', () => {
    it('POSTs to /v3/mail/send with the key as a bearer token, not marked idempotent', async () => {
      api.reply({ statusCode: 202 });

      await sut.send(message(), signal);

      expect(api.requests[0]).toEqual({
        method: 'POST',
        path: '/v3/mail/send',
        headers: {
          Authorization: `Bearer ${apiKey}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
        body: expect.any(String),
        idempotent: false,
        signal,
      });
      expect(sut.forwardsIdempotencyKey).toBe(false);
    });

    it('keeps a path prefix of SENDGRID_API_URL', async () => {
      const proxied = new ScriptedUpstreamRegistry();
      const proxy = proxied.client('https://proxy.example').reply({ statusCode: 202 });
      const driver = new SendgridDriver(
        loadConfigSlice(sendgridConfig, {
          SENDGRID_API_KEY: apiKey,
          SENDGRID_API_URL: 'https://proxy.example/sendgrid/',
        }),
        proxied.asRegistry(),
      );

      await driver.send(message(), signal);

      expect(proxy.requests[0].path).toBe('/sendgrid/v3/mail/send');
    });

    it('maps the whole message', async () => {
      api.reply({ statusCode: 202 });

      await sut.send(message(aFullMail()), signal);

      expect(api.json()).toEqual({
        personalizations: [
          {
            to: [{ email: 'ada@example.org', name: 'Ada Lovelace' }],
            cc: [{ email: 'grace@example.org', name: 'Grace Hopper' }],
            bcc: [{ email: 'audit@example.com' }],
          },
        ],
        from: { email: 'billing@example.com', name: 'Billing' },
        reply_to: { email: 'help@example.com', name: 'Help Desk' },
        subject: 'Your invoice',
        content: [
          { type: 'text/plain', value: 'Hello Ada, your invoice is attached.' },
          { type: 'text/html', value: '<p>Hello Ada</p>' },
        ],
        attachments: [
          {
            content: 'JVBERi0xLjc=',
            filename: 'invoice.pdf',
            type: 'application/pdf',
            disposition: 'attachment',
          },
        ],
        headers: { 'X-Campaign': 'march', 'X-Priority': '1' },
        categories: ['invoice', 'march'],
        custom_args: { customer: '42', mailgateway_id: 'message-1' },
      });
    });

    it('leaves out empty lists, which SendGrid refuses', async () => {
      api.reply({ statusCode: 202 });

      await sut.send(message(aMail({ textBody: '', htmlBody: '<p>Hi</p>' })), signal);

      expect(api.json()).toEqual({
        personalizations: [{ to: [{ email: 'ada@example.org', name: 'Ada Lovelace' }] }],
        from: { email: 'billing@example.com', name: 'Billing' },
        subject: 'Your invoice',
        content: [{ type: 'text/html', value: '<p>Hi</p>' }],
        custom_args: { mailgateway_id: 'message-1' },
      });
    });

    it("tells SendGrid the gateway's message id in custom_args, echoed in its event webhook", async () => {
      api.reply({ statusCode: 202 });

      await sut.send(anOutboundMessage({ id: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90' }), signal);

      expect(api.json()).toMatchObject({
        custom_args: { mailgateway_id: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90' },
      });
    });

    it('sends several reply-to addresses as reply_to_list', async () => {
      api.reply({ statusCode: 202 });
      const replyTo = [
        { address: 'help@example.com', name: 'Help' },
        { address: 'sales@example.com', name: '' },
      ];

      await sut.send(message(aMail({ replyTo })), signal);

      expect(api.json()).toMatchObject({
        reply_to_list: [{ email: 'help@example.com', name: 'Help' }, { email: 'sales@example.com' }],
      });
      expect(api.json()).not.toHaveProperty('reply_to');
    });
  });

  describe('answers', () => {
    it('accepts 202 with the X-Message-Id', async () => {
      api.reply({ statusCode: 202, headers: { 'x-message-id': 'W2u8cnF0SXmqWEGIDaFcKw' } });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'accepted',
        providerMessageId: 'W2u8cnF0SXmqWEGIDaFcKw',
      });
    });

    it('accepts 200 (sandbox mode) without an id', async () => {
      api.reply({ statusCode: 200 });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind: 'accepted' });
    });

    it.each([
      [400, 'permanent', 'HTTP 400'],
      [413, 'permanent', 'HTTP 413'],
      [401, 'retry', 'HTTP 401 (check SENDGRID_API_KEY and SENDGRID_API_URL)'],
      [403, 'retry', 'HTTP 403 (check SENDGRID_API_KEY and SENDGRID_API_URL)'],
      [404, 'retry', 'HTTP 404 (check SENDGRID_API_KEY and SENDGRID_API_URL)'],
      [405, 'retry', 'HTTP 405 (check SENDGRID_API_KEY and SENDGRID_API_URL)'],
      [429, 'retry', 'HTTP 429'],
      [500, 'retry', 'HTTP 500'],
      [502, 'retry', 'HTTP 502'],
      [503, 'retry', 'HTTP 503'],
      [504, 'retry', 'HTTP 504'],
      [406, 'permanent', 'HTTP 406'],
      [451, 'permanent', 'HTTP 451'],
      [501, 'retry', 'HTTP 501'],
      [302, 'retry', 'HTTP 302'],
    ])('answers %i with %s', async (statusCode, kind, reason) => {
      api.reply({ statusCode });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind, reason });
    });

    it('puts SendGrid’s error messages into the reason', async () => {
      api.reply({
        statusCode: 400,
        body: {
          errors: [
            { field: 'from.email', message: 'The from email does not contain a valid address.', help: null },
            { field: null, message: 'Invalid categories' },
          ],
        },
      });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: 'HTTP 400: from.email: The from email does not contain a valid address.; Invalid categories',
      });
    });

    it('waits until X-RateLimit-Reset after a 429', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(1_763_600_000_000);
      api.reply({
        statusCode: 429,
        headers: {
          'x-ratelimit-limit': '600',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1763600042',
        },
        body: { errors: [{ field: null, message: 'too many requests' }] },
      });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'HTTP 429: too many requests',
        retryAfterMs: 42_000,
      });
    });

    it('prefers Retry-After over X-RateLimit-Reset', async () => {
      api.reply({ statusCode: 429, headers: { 'retry-after': '5', 'x-ratelimit-reset': '9999999999' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({ retryAfterMs: 5000 });
    });

    it('does not wait for a reset that has passed', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(1_763_600_000_000);
      api.reply({ statusCode: 429, headers: { 'x-ratelimit-reset': '1763599990' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({ retryAfterMs: 0 });
    });

    it('ignores X-RateLimit-Reset on answers other than 429', async () => {
      api.reply({ statusCode: 500, headers: { 'x-ratelimit-reset': '9999999999' } });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind: 'retry', reason: 'HTTP 500' });
    });

    it('honours Retry-After on a 503', async () => {
      api.reply({ statusCode: 503, headers: { 'retry-after': '30' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({
        kind: 'retry',
        retryAfterMs: 30_000,
      });
    });

    it('keeps the key and the message out of the reason', async () => {
      api.reply({
        statusCode: 401,
        body: { errors: [{ message: 'The provided authorization grant is invalid' }] },
      });

      const outcome = await sut.send(message(), signal);

      expect(JSON.stringify(outcome)).not.toMatch(/very-secret|Hello Ada/);
    });
  });
});
