import { Logger } from '@nestjs/common';
import { generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import type { InboundRequest } from '../../intake/webhook-provider';
import { readPublicKey } from './sendgrid-webhook.settings';
import { SendgridWebhookProvider } from './sendgrid-webhook.provider';

// SendGrid's published sample (sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js):
// key, signature and timestamp exactly as there, and the payload's exact bytes.
const SAMPLE_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==';
const SAMPLE_SIGNATURE =
  'MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=';
const SAMPLE_TIMESTAMP = '1600112502';
const SAMPLE_PAYLOAD =
  '[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n';

// The same file's multi-event sample: two events, each followed by CRLF.
const MULTI_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==';
const MULTI_SIGNATURE =
  'MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5';
const MULTI_TIMESTAMP = '1619651159';
const MULTI_PAYLOAD =
  '[{"email":"invalid@gmail.com","event":"processed","send_at":0,"sg_event_id":"cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA","sg_message_id":"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0","smtp-id":"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>","timestamp":1619651146},\r\n' +
  '{"email":"invalid@gmail.com","event":"bounce","ip":"167.89.101.76","reason":"552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp","sg_event_id":"Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w","sg_message_id":"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0","smtp-id":"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>","status":"5.2.2","timestamp":1619651147,"tls":1,"type":"blocked"}]\r\n';

const WINDOW_MS = 5 * 60 * 1000;
const SAMPLE_SIGNED_AT = Number(SAMPLE_TIMESTAMP) * 1000;

function request(body: string | Buffer, headers: Record<string, string>, receivedAt: number): InboundRequest {
  return { method: 'POST', subpath: '', headers, body: Buffer.from(body), receivedAt };
}

function sampleHeaders(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'x-twilio-email-event-webhook-signature': SAMPLE_SIGNATURE,
    'x-twilio-email-event-webhook-timestamp': SAMPLE_TIMESTAMP,
    ...overrides,
  };
}

/** Signs like SendGrid does, with a key made here. */
function signed(privateKey: KeyObject, body: string, timestampSeconds: number) {
  const timestamp = String(timestampSeconds);
  const signature = sign('sha256', Buffer.from(timestamp + body), { key: privateKey, dsaEncoding: 'der' });
  return sampleHeaders({
    'x-twilio-email-event-webhook-signature': signature.toString('base64'),
    'x-twilio-email-event-webhook-timestamp': timestamp,
  });
}

describe(SendgridWebhookProvider.name, () => {
  const sample = new SendgridWebhookProvider(readPublicKey(SAMPLE_KEY)!, WINDOW_MS);

  describe("SendGrid's published sample", () => {
    it('verifies, and reads the dropped event with the X-Message-Id part of sg_message_id', async () => {
      const result = await sample.verify(request(SAMPLE_PAYLOAD, sampleHeaders(), SAMPLE_SIGNED_AT + 10_000));
      expect(result).toEqual({
        kind: 'verified',
        feedback: [
          {
            provider: 'sendgrid',
            eventId: 'ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA',
            kind: 'dropped',
            dropReason: 'provider-list',
            recipient: 'hello@world.com',
            providerMessageId: 'LRzXl_NHStOGhQ4kofSm_A',
            detail: 'Bounced Address',
            occurredAt: 1600112492000,
          },
        ],
      });
    });

    it('verifies the multi-event sample: the processed event ignored, the blocked 5.2.2 bounce soft', async () => {
      const provider = new SendgridWebhookProvider(readPublicKey(MULTI_KEY)!, WINDOW_MS);
      const headers = sampleHeaders({
        'x-twilio-email-event-webhook-signature': MULTI_SIGNATURE,
        'x-twilio-email-event-webhook-timestamp': MULTI_TIMESTAMP,
      });
      const result = await provider.verify(request(MULTI_PAYLOAD, headers, Number(MULTI_TIMESTAMP) * 1000));
      expect(result).toMatchObject({
        kind: 'verified',
        feedback: [
          {
            eventId: 'Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w',
            kind: 'bounce',
            bounceClass: 'soft',
            recipient: 'invalid@gmail.com',
            providerMessageId: 'qNwBLgPQQjW6DJvKQwSAbw',
            occurredAt: 1619651147000,
          },
        ],
      });
    });

    it('refuses the sample with one byte changed', async () => {
      const tampered = Buffer.from(SAMPLE_PAYLOAD);
      tampered[tampered.indexOf('hello')] = 'j'.charCodeAt(0);
      const result = await sample.verify(request(tampered, sampleHeaders(), SAMPLE_SIGNED_AT));
      expect(result).toMatchObject({ kind: 'refused', status: 401, reason: 'unauthenticated' });
    });

    it('refuses the same events re-serialised (no trailing CRLF, other spacing)', async () => {
      const reserialised = JSON.stringify(JSON.parse(SAMPLE_PAYLOAD), null, 1);
      for (const body of [reserialised, SAMPLE_PAYLOAD.trimEnd()]) {
        const result = await sample.verify(request(body, sampleHeaders(), SAMPLE_SIGNED_AT));
        expect(result).toMatchObject({ kind: 'refused', reason: 'unauthenticated' });
      }
    });

    it('refuses another timestamp with the same signature', async () => {
      const headers = sampleHeaders({ 'x-twilio-email-event-webhook-timestamp': '1600112503' });
      const result = await sample.verify(request(SAMPLE_PAYLOAD, headers, SAMPLE_SIGNED_AT));
      expect(result).toMatchObject({ kind: 'refused', reason: 'unauthenticated' });
    });

    it('refuses the authentic sample as stale once it is older than the replay window', async () => {
      const result = await sample.verify(
        request(SAMPLE_PAYLOAD, sampleHeaders(), SAMPLE_SIGNED_AT + WINDOW_MS + 1),
      );
      expect(result).toMatchObject({ kind: 'refused', status: 401, reason: 'stale' });
    });

    it('refuses a request without the signature headers, or with a garbled signature', async () => {
      for (const headers of [
        {},
        { 'x-twilio-email-event-webhook-timestamp': SAMPLE_TIMESTAMP },
        sampleHeaders({ 'x-twilio-email-event-webhook-signature': 'not base64 at all' }),
        sampleHeaders({ 'x-twilio-email-event-webhook-timestamp': 'yesterday' }),
      ]) {
        const result = await sample.verify(request(SAMPLE_PAYLOAD, headers, SAMPLE_SIGNED_AT));
        expect(result).toMatchObject({ kind: 'refused', status: 401, reason: 'unauthenticated' });
      }
    });

    it("refuses the sample under another key (SendGrid's own wrong-key case)", async () => {
      const other = readPublicKey(
        'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==',
      )!;
      const result = await new SendgridWebhookProvider(other, WINDOW_MS).verify(
        request(SAMPLE_PAYLOAD, sampleHeaders(), SAMPLE_SIGNED_AT),
      );
      expect(result).toMatchObject({ kind: 'refused', reason: 'unauthenticated' });
    });
  });

  describe('events signed with a key made here', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const sut = new SendgridWebhookProvider(publicKey, WINDOW_MS);
    const now = 1_800_000_000_000;
    const base = { sg_message_id: 'x-msg-1.filterdrecv-abc', timestamp: 1_799_999_990 };

    async function feedbackOf(events: unknown[]) {
      const body = `${JSON.stringify(events)}\r\n`;
      const result = await sut.verify(request(body, signed(privateKey, body, now / 1000), now));
      if (result.kind !== 'verified') throw new Error(`refused: ${result.explanation}`);
      return result.feedback;
    }

    it('maps each outcome event and ignores engagement events', async () => {
      const feedback = await feedbackOf([
        { ...base, event: 'processed', email: 'a@example.com', sg_event_id: 'e0' },
        { ...base, event: 'delivered', email: 'A@Example.com', sg_event_id: 'e1', response: '250 OK' },
        {
          ...base,
          event: 'deferred',
          email: 'b@example.com',
          sg_event_id: 'e2',
          response: '421 try later',
          attempt: '2',
        },
        { ...base, event: 'open', email: 'a@example.com', sg_event_id: 'e3' },
        { ...base, event: 'click', email: 'a@example.com', sg_event_id: 'e4' },
        { ...base, event: 'spamreport', email: 'c@example.com', sg_event_id: 'e5' },
        { ...base, event: 'unsubscribe', email: 'd@example.com', sg_event_id: 'e6' },
        { ...base, event: 'group_unsubscribe', email: 'e@example.com', sg_event_id: 'e7', asm_group_id: 1 },
        {
          ...base,
          event: 'dropped',
          email: 'f@example.com',
          sg_event_id: 'e8',
          reason: 'Unsubscribed Address',
        },
        {
          ...base,
          event: 'dropped',
          email: 'g@example.com',
          sg_event_id: 'e9',
          reason: 'Spam Reporting Address',
        },
      ]);
      expect(
        feedback.map(({ eventId, kind, recipient, detail }) => [eventId, kind, recipient, detail]),
      ).toEqual([
        ['e1', 'delivered', 'a@example.com', '250 OK'],
        ['e2', 'deferred', 'b@example.com', '421 try later (attempt 2)'],
        ['e5', 'complaint', 'c@example.com', 'spamreport'],
        ['e6', 'unsubscribe', 'd@example.com', 'unsubscribe'],
        ['e7', 'unsubscribe', 'e@example.com', 'group_unsubscribe'],
        ['e8', 'dropped', 'f@example.com', 'Unsubscribed Address'],
        ['e9', 'dropped', 'g@example.com', 'Spam Reporting Address'],
      ]);
      expect(feedback[0]).toMatchObject({ providerMessageId: 'x-msg-1', occurredAt: 1_799_999_990_000 });
    });

    it("matches by the gateway's custom arg when SendGrid echoes it", async () => {
      const [feedback] = await feedbackOf([
        {
          ...base,
          event: 'delivered',
          email: 'a@example.com',
          sg_event_id: 'e1',
          mailgateway_id: 'gw-1',
        },
      ]);
      expect(feedback).toMatchObject({ gatewayMessageId: 'gw-1', providerMessageId: 'x-msg-1' });
    });

    it.each([
      ['bounce', '5.1.1', 'Invalid Address', 'hard'],
      ['bounce', '5.1.10', undefined, 'hard'],
      ['bounce', '5.7.1', 'Invalid Address', 'undetermined'],
      ['bounce', '5.0.0', 'Reputation', 'undetermined'],
      ['bounce', '5.0.0', 'Content', 'undetermined'],
      ['bounce', '5.2.2', 'Mailbox Unavailable', 'soft'],
      ['blocked', '4.7.0', 'Frequency or Volume', 'undetermined'],
      ['blocked', '4.0.0', 'Frequency or Volume', 'undetermined'],
      ['blocked', '4.7.28', undefined, 'undetermined'],
      ['bounce', '5.7.26', undefined, 'undetermined'],
      ['blocked', '4.2.1', undefined, 'soft'],
      ['blocked', '5.0.0', 'Technical', 'soft'],
      ['bounce', '5.0.0', 'Unclassified', 'undetermined'],
    ])('a %s with status %s and classification %s is %s', async (type, status, classification, expected) => {
      const [feedback] = await feedbackOf([
        {
          ...base,
          event: 'bounce',
          type,
          status,
          ...(classification ? { bounce_classification: classification } : {}),
          email: 'a@example.com',
          sg_event_id: 'b1',
          reason: '550 no such user',
        },
      ]);
      expect(feedback).toMatchObject({ kind: 'bounce', bounceClass: expected });
      expect(feedback.detail).toContain('550 no such user');
    });

    it("reads a class 7 code in the reason (Gmail's 421-4.7.28) as undetermined, not soft", async () => {
      const [feedback] = await feedbackOf([
        {
          ...base,
          event: 'bounce',
          type: 'blocked',
          email: 'a@example.com',
          sg_event_id: 'b1',
          reason: '421-4.7.28 Our system has detected an unusual rate of unsolicited mail',
        },
      ]);
      expect(feedback).toMatchObject({ kind: 'bounce', bounceClass: 'undetermined' });
    });

    it('refuses a signed body that is not JSON or not a JSON array, naming the problem', async () => {
      for (const [body, problem] of [
        ['{"not": "an array"}', 'not a JSON array'],
        ['[{"event": "delivered"', 'not JSON'],
      ]) {
        const result = await sut.verify(request(body, signed(privateKey, body, now / 1000), now));
        expect(result).toMatchObject({ kind: 'refused', status: 400, reason: 'malformed' });
        expect(result.kind === 'refused' && result.explanation).toContain(problem);
      }
    });

    it('skips malformed events alone, keeping the rest of the batch, and logs only their count', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        const feedback = await feedbackOf([
          7,
          { ...base, email: 'a@example.com', sg_event_id: 'no-type' },
          { ...base, event: 'delivered', email: 'a@example.com' },
          { ...base, event: 'delivered', email: 'nobody', sg_event_id: 'x1' },
          { ...base, event: 'delivered', email: 'b@example.com', sg_event_id: 'x2', timestamp: 'soon' },
          { ...base, event: 'spamreport', email: 'c@example.com', sg_event_id: 'kept-1' },
          { ...base, event: 'open', email: 'nobody' },
          { ...base, event: 'bounce', email: 'd@example.com', sg_event_id: 'kept-2', status: '5.1.1' },
        ]);
        expect(feedback.map(({ eventId, kind }) => [eventId, kind])).toEqual([
          ['kept-1', 'complaint'],
          ['kept-2', 'bounce'],
        ]);
        expect(warn).toHaveBeenCalledTimes(1);
        const [line] = warn.mock.calls[0] as [string];
        expect(line).toContain('Skipped 5 malformed');
        expect(line).not.toMatch(/@|nobody/);
      } finally {
        warn.mockRestore();
      }
    });

    it.each([
      ['Bounced Address', 'provider-list'],
      ['Spam Reporting Address', 'provider-list'],
      ['Unsubscribed Address', 'unsubscribed'],
      ['Invalid', 'other'],
      [undefined, 'other'],
    ])('a drop for %s has drop reason %s', async (reason, dropReason) => {
      const [feedback] = await feedbackOf([
        {
          ...base,
          event: 'dropped',
          email: 'a@example.com',
          sg_event_id: 'd1',
          ...(reason ? { reason } : {}),
        },
      ]);
      expect(feedback).toMatchObject({ kind: 'dropped', dropReason });
    });

    it('refuses a timestamp ahead of the clock by more than the window', async () => {
      const body = '[]';
      const result = await sut.verify(
        request(body, signed(privateKey, body, (now + WINDOW_MS + 1000) / 1000), now),
      );
      expect(result).toMatchObject({ reason: 'stale' });
    });
  });
});
