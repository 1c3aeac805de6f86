// Postmark Email API, send a single email (POST /email, X-Postmark-Server-Token, body fields,
// 200 answer with MessageID and ErrorCode 0):
//   https://postmarkapp.com/developer/api/email-api#send-a-single-email
//   https://postmarkapp.com/developer/user-guide/send-email-with-api
// HTTP response codes (200, 401, 404, 413, 422, 429, 500, 503) and the API error codes table
// (ErrorCode of a 422: 10, 100, 300, 400, 401, 402, 403, 405, 406, 409, 411, 412, 413, 429...):
//   https://postmarkapp.com/developer/api/overview#http-response-codes
//   https://postmarkapp.com/developer/api/overview#error-codes
// A 403 without an ErrorCode comes from a network layer in front of the API:
//   https://postmarkapp.com/support/article/getting-a-403-that-doesnt-look-like-a-postmark-error
// Quoting display names (ErrorCode 300 otherwise):
//   https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean
import { loadConfigSlice } from '@mailgateway/config';
import {
  aFullMail,
  aMail,
  anOutboundMessage,
  describeMailDriverContract,
  ScriptedUpstream,
  ScriptedUpstreamRegistry,
} from '@mailgateway/testing';
import { postmarkConfig } from './postmark.settings';
import { PostmarkDriver } from './postmark.driver';
import { postmark } from '.';

describeMailDriverContract({
  definition: postmark,
  env: { POSTMARK_SERVER_TOKEN: 'contract-token' },
  requires: ['POSTMARK_SERVER_TOKEN'],
  upstream: {
    origin: 'https://api.postmarkapp.com',
    accepted: { statusCode: 200, body: { ErrorCode: 0, Message: 'OK', MessageID: 'pm-1' } },
  },
});

describe(PostmarkDriver.name, () => {
  const serverToken = 'very-secret-server-token';
  const signal = new AbortController().signal;
  const message = (mail = aMail()) => anOutboundMessage({ mail });
  const postmarkError = (ErrorCode: number, Message = 'details') => ({
    statusCode: 422,
    body: { ErrorCode, Message },
  });
  let registry: ScriptedUpstreamRegistry;
  let api: ScriptedUpstream;
  let sut: PostmarkDriver;

  beforeEach(() => {
    registry = new ScriptedUpstreamRegistry();
    api = registry.client('https://api.postmarkapp.com');
    sut = new PostmarkDriver(
      loadConfigSlice(postmarkConfig, {
        POSTMARK_SERVER_TOKEN: serverToken,
        POSTMARK_MESSAGE_STREAM: 'transactional',
      }),
      registry.asRegistry(),
    );
  });

  describe('request', () => {
    it('POSTs to /email with the server token, not marked idempotent', async () => {
      api.reply({ statusCode: 200, body: { ErrorCode: 0, MessageID: 'id-1' } });

      await sut.send(message(), signal);

      expect(api.requests[0]).toEqual({
        method: 'POST',
        path: '/email',
        headers: {
          'X-Postmark-Server-Token': serverToken,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
        body: expect.any(String),
        idempotent: false,
        signal,
      });
      expect(sut.forwardsIdempotencyKey).toBe(false);
    });

    it('maps the whole message, quoting display names', async () => {
      api.reply({ statusCode: 200, body: { ErrorCode: 0, MessageID: 'id-1' } });
      const mail = aFullMail({
        from: { address: 'billing@example.com', name: 'Billing, Example Inc.' },
        to: [
          { address: 'ada@example.org', name: 'Ada Lovelace' },
          { address: 'charles@example.org', name: 'Babbage, Charles' },
        ],
        cc: [{ address: 'grace@example.org', name: '' }],
        bcc: [{ address: 'audit@example.com', name: 'Audit "Team"' }],
      });

      await sut.send(message(mail), signal);

      expect(api.json()).toEqual({
        From: '"Billing, Example Inc." <billing@example.com>',
        To: 'Ada Lovelace <ada@example.org>, "Babbage, Charles" <charles@example.org>',
        Cc: 'grace@example.org',
        Bcc: '"Audit \\"Team\\"" <audit@example.com>',
        ReplyTo: 'Help Desk <help@example.com>',
        Subject: 'Your invoice',
        TextBody: 'Hello Ada, your invoice is attached.',
        HtmlBody: '<p>Hello Ada</p>',
        Headers: [
          { Name: 'X-Campaign', Value: 'march' },
          { Name: 'X-Priority', Value: '1' },
        ],
        Attachments: [{ Name: 'invoice.pdf', Content: 'JVBERi0xLjc=', ContentType: 'application/pdf' }],
        Tag: 'invoice',
        Metadata: { customer: '42', mailgateway_id: 'message-1' },
        MessageStream: 'transactional',
      });
    });

    it('leaves out what the message does not have', async () => {
      api.reply({ statusCode: 200, body: { ErrorCode: 0 } });

      await sut.send(message(), signal);

      expect(api.json()).toEqual({
        From: 'Billing <billing@example.com>',
        To: 'Ada Lovelace <ada@example.org>',
        Subject: 'Your invoice',
        TextBody: 'Hello Ada, your invoice is attached.',
        Metadata: { mailgateway_id: 'message-1' },
        MessageStream: 'transactional',
      });
    });

    it("tells Postmark the gateway's message id in Metadata, echoed in its webhooks", async () => {
      api.reply({ statusCode: 200, body: { ErrorCode: 0 } });

      await sut.send(anOutboundMessage({ id: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90' }), signal);

      expect(api.json()).toMatchObject({
        Metadata: { mailgateway_id: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90' },
      });
    });
  });

  describe('answers', () => {
    it('accepts 200 with ErrorCode 0 and the MessageID', async () => {
      api.reply({
        statusCode: 200,
        body: {
          To: 'ada@example.org',
          SubmittedAt: '2026-11-20T10:00:00Z',
          MessageID: 'b7bc2f4a-e38e',
          ErrorCode: 0,
        },
      });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'accepted',
        providerMessageId: 'b7bc2f4a-e38e',
      });
    });

    it('accepts a 200 whose body was cut off', async () => {
      api.reply({ statusCode: 200, body: '{"MessageID":"b7b', bodyComplete: false });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind: 'accepted' });
    });

    it.each([
      [401, 'retry', 'HTTP 401 (check POSTMARK_SERVER_TOKEN)'],
      [403, 'retry', 'HTTP 403 (blocked in front of the Postmark API)'],
      [404, 'retry', 'HTTP 404 (check POSTMARK_API_URL)'],
      [413, 'permanent', 'HTTP 413'],
      [415, 'permanent', 'HTTP 415'],
      [422, 'permanent', 'HTTP 422'],
      [429, 'retry', 'HTTP 429'],
      [500, 'retry', 'HTTP 500'],
      [502, 'retry', 'HTTP 502'],
      [503, 'retry', 'HTTP 503'],
      [504, 'retry', 'HTTP 504'],
    ])('answers HTTP %i with %s', async (statusCode, kind, reason) => {
      api.reply({ statusCode });

      await expect(sut.send(message(), signal)).resolves.toEqual({ kind, reason });
    });

    it.each([
      [300, 'Invalid email request'],
      [400, 'Sender signature not found'],
      [401, 'Sender signature not confirmed'],
      [402, 'Invalid JSON'],
      [403, 'Incompatible JSON'],
      [406, 'Inactive recipient'],
      [409, 'JSON required'],
      [411, 'Forbidden attachment type'],
      [1999, 'a code this driver does not know'],
    ])('refuses a 422 with ErrorCode %i (%s) for good', async (code, text) => {
      api.reply(postmarkError(code, text));

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: `HTTP 422: Postmark error ${code}: ${text}`,
      });
    });

    it.each([
      [10, 'check POSTMARK_SERVER_TOKEN'],
      [100, 'Postmark maintenance'],
      [405, 'the account may not send (e.g. out of credits)'],
      [412, 'the account is pending approval'],
      [413, 'the account may not send'],
      [429, 'rate limited'],
    ])('retries a 422 with ErrorCode %i', async (code, why) => {
      api.reply(postmarkError(code));

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: `HTTP 422: Postmark error ${code}: details (${why})`,
      });
    });

    it('classifies a 200 that carries an error code by that code', async () => {
      api.reply({ statusCode: 200, body: { ErrorCode: 406, Message: 'Inactive recipient' } });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'permanent',
        reason: 'HTTP 200: Postmark error 406: Inactive recipient',
      });
    });

    it('puts Postmark’s message into the reason of a 401', async () => {
      api.reply({
        statusCode: 401,
        body: { ErrorCode: 10, Message: 'No Account or Server API tokens were supplied' },
      });

      await expect(sut.send(message(), signal)).resolves.toEqual({
        kind: 'retry',
        reason: 'HTTP 401: No Account or Server API tokens were supplied (check POSTMARK_SERVER_TOKEN)',
      });
    });

    it.each([429, 503])('honours Retry-After on %i', async (statusCode) => {
      api.reply({ statusCode, headers: { 'retry-after': '20' } });

      await expect(sut.send(message(), signal)).resolves.toMatchObject({
        kind: 'retry',
        retryAfterMs: 20_000,
      });
    });

    it('keeps the token and the message out of the reason', async () => {
      api.reply(postmarkError(300, 'Invalid Subject'));

      const outcome = await sut.send(message(), signal);

      expect(JSON.stringify(outcome)).not.toMatch(/very-secret|Hello Ada/);
    });
  });
});
