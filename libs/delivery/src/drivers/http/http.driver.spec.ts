// The http driver talks to our own endpoint contract (documented on HttpDriver), not to a vendor.
// Status semantics: RFC 9110 §15 (https://www.rfc-editor.org/rfc/rfc9110#section-15), 425 Too Early
// in RFC 8470 §5.2, Retry-After in RFC 9110 §10.2.3; Idempotency-Key as in the IETF draft
// https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/.
import { loadConfigSlice } from '@mailgateway/config';
import {
  aFullMail,
  aMail,
  anOutboundMessage,
  describeMailDriverContract,
  ScriptedUpstream,
  ScriptedUpstreamRegistry,
} from '@mailgateway/testing';
import { httpDriverConfig } from './http.settings';
import { HttpDriver } from './http.driver';
import { http } from '.';

describeMailDriverContract({
  definition: http,
  env: { HTTP_DRIVER_URL: 'https://mail.internal.example/v1/send' },
  requires: ['HTTP_DRIVER_URL'],
  upstream: {
    origin: 'https://mail.internal.example',
    accepted: { statusCode: 202, body: { id: 'mail-1' } },
  },
});

describe(HttpDriver.name, () => {
  const authValue = 'Bearer very-secret';
  const env = {
    HTTP_DRIVER_URL: 'https://mail.internal.example/v1/send?tenant=a',
    HTTP_DRIVER_AUTH_VALUE: authValue,
  };
  const signal = new AbortController().signal;
  const message = (mail = aMail()) => anOutboundMessage({ mail, attempt: 2 });
  let registry: ScriptedUpstreamRegistry;
  let upstream: ScriptedUpstream;
  let sut: HttpDriver;

  beforeEach(() => {
    registry = new ScriptedUpstreamRegistry();
    upstream = registry.client(env.HTTP_DRIVER_URL);
    sut = new HttpDriver(loadConfigSlice(httpDriverConfig, env), registry.asRegistry());
  });

  describe('request', () => {
    it('POSTs the message as JSON with its idempotency key and the credential', async () => {
      upstream.reply({ statusCode: 202 });

      await sut.send(message(), signal);

      expect(upstream.requests[0]).toEqual({
        method: 'POST',
        path: '/v1/send?tenant=a',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Idempotency-Key': 'key-1',
          authorization: authValue,
        },
        body: expect.any(String),
        idempotent: true,
        signal,
      });
      expect(sut.forwardsIdempotencyKey).toBe(true);
    });

    it('maps every field of the message, attachments in base64', async () => {
      upstream.reply({ statusCode: 202 });

      await sut.send(message(aFullMail()), signal);

      expect(upstream.json()).toEqual({
        messageId: 'message-1',
        attempt: 2,
        mail: {
          from: { address: 'billing@example.com', name: 'Billing' },
          to: [{ address: 'ada@example.org', name: 'Ada Lovelace' }],
          cc: [{ address: 'grace@example.org', name: 'Grace Hopper' }],
          bcc: [{ address: 'audit@example.com', name: '' }],
          replyTo: [{ address: 'help@example.com', name: 'Help Desk' }],
          subject: 'Your invoice',
          textBody: 'Hello Ada, your invoice is attached.',
          htmlBody: '<p>Hello Ada</p>',
          headers: [
            { name: 'X-Campaign', value: 'march' },
            { name: 'X-Priority', value: '1' },
          ],
          attachments: [{ fileName: 'invoice.pdf', contentType: 'application/pdf', content: 'JVBERi0xLjc=' }],
          tags: ['invoice', 'march'],
          metadata: { customer: '42' },
        },
      });
    });

    it('sends no credential header when none is configured', async () => {
      const registryWithoutAuth = new ScriptedUpstreamRegistry();
      const endpoint = registryWithoutAuth.client(env.HTTP_DRIVER_URL).reply({ statusCode: 200 });
      const driver = new HttpDriver(
        loadConfigSlice(httpDriverConfig, { HTTP_DRIVER_URL: env.HTTP_DRIVER_URL }),
        registryWithoutAuth.asRegistry(),
      );

      await driver.send(message(), signal);

      expect(Object.keys(endpoint.requests[0].headers ?? {})).toEqual([
        'Content-Type',
        'Accept',
        'Idempotency-Key',
      ]);
    });

    it('uses the configured header name for the credential', async () => {
      const other = new ScriptedUpstreamRegistry();
      const endpoint = other.client(env.HTTP_DRIVER_URL).reply({ statusCode: 200 });
      const driver = new HttpDriver(
        loadConfigSlice(httpDriverConfig, {
          ...env,
          HTTP_DRIVER_AUTH_HEADER: 'x-api-key',
          HTTP_DRIVER_AUTH_VALUE: 'k',
        }),
        other.asRegistry(),
      );

      await driver.send(message(), signal);

      expect(endpoint.requests[0].headers).toMatchObject({ 'x-api-key': 'k' });
    });
  });

  describe('answers', () => {
    it.each([200, 201, 202, 204])('accepts %i', async (statusCode) => {
      upstream.reply({ statusCode });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind: 'accepted' });
    });

    it.each([
      ['id', { id: 'abc-1' }, 'abc-1'],
      ['messageId', { messageId: 'abc-2' }, 'abc-2'],
      ['a numeric id', { id: 7 }, '7'],
    ])('takes the provider id from %s', async (_case, body, expected) => {
      upstream.reply({ statusCode: 202, body });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'accepted',
        providerMessageId: expected,
      });
    });

    it.each([408, 425, 429, 500, 502, 503, 504, 501, 507, 301, 304])('retries %i', async (statusCode) => {
      upstream.reply({ statusCode });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: `HTTP ${statusCode}`,
      });
    });

    it.each([400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 451])(
      'refuses %i for good',
      async (statusCode) => {
        upstream.reply({ statusCode });

        await expect(sut.send(message(), signal)).resolves.toEqual({
          kind: 'permanent',
          reason: `HTTP ${statusCode}`,
        });
      },
    );

    it.each([
      ['message', { message: 'recipient unknown' }],
      ['error string', { error: 'recipient unknown' }],
      ['error object', { error: { message: 'recipient unknown' } }],
    ])('puts the endpoint’s %s into the reason', async (_case, body) => {
      upstream.reply({ statusCode: 422, body });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: 'HTTP 422: recipient unknown',
      });
    });

    it('honours Retry-After in seconds', async () => {
      upstream.reply({ statusCode: 429, headers: { 'retry-after': '120' } });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'HTTP 429',
        retryAfterMs: 120_000,
      });
    });

    it('honours Retry-After as an HTTP date', async () => {
      const now = Date.parse('2026-11-20T10:00:00Z');
      jest.spyOn(Date, 'now').mockReturnValue(now);
      upstream.reply({ statusCode: 503, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:01:30 GMT' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({
        kind: 'retry',
        retryAfterMs: 90_000,
      });
      jest.restoreAllMocks();
    });

    it('keeps the credential and the message out of the reason', async () => {
      upstream.reply({ statusCode: 400, body: { message: 'bad' } });

      const outcome = await sut.send(message(), signal);

      expect(JSON.stringify(outcome)).not.toMatch(/very-secret|Hello Ada/);
    });
  });
});
