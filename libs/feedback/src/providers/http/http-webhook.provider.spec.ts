import { createHmac, randomBytes } from 'node:crypto';
import { loadConfigSlice } from '@mailgateway/config';
import type { InboundRequest } from '../../intake/webhook-provider';
import { httpWebhookConfig } from './http-webhook.settings';
import { HttpWebhookProvider } from './http-webhook.provider';

// The Standard Webhooks test vector (standard-webhooks, libraries/go/webhook_test.go TestWebhookSign,
// the same in every library's tests).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const WINDOW_MS = 5 * 60 * 1000;

const secretsOf = (text: string) =>
  loadConfigSlice(httpWebhookConfig, { HTTP_WEBHOOK_SECRETS: text }).secrets;

function request(body: string, headers: Record<string, string>, receivedAt: number): InboundRequest {
  return { method: 'POST', subpath: '', headers, body: Buffer.from(body), receivedAt };
}

function signedHeaders(key: Buffer, id: string, timestampSeconds: number, body: string) {
  const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

describe(HttpWebhookProvider.name, () => {
  describe('the Standard Webhooks test vector', () => {
    const sut = new HttpWebhookProvider(secretsOf(VECTOR.secret), WINDOW_MS);
    const headers = {
      'webhook-id': VECTOR.id,
      'webhook-timestamp': VECTOR.timestamp,
      'webhook-signature': VECTOR.signature,
    };
    const at = Number(VECTOR.timestamp) * 1000;

    it("passes the signature check (the vector's body is not our event, so it is then malformed)", async () => {
      const result = await sut.verify(request(VECTOR.payload, headers, at));
      expect(result).toMatchObject({ kind: 'refused', status: 400, reason: 'malformed' });
    });

    it('passes among other signatures and other versions in the header, and with the secret listed second', async () => {
      const other = new HttpWebhookProvider(
        secretsOf(`whsec_${randomBytes(32).toString('base64')},${VECTOR.secret}`),
        WINDOW_MS,
      );
      const many = {
        ...headers,
        'webhook-signature': `v1a,xyz v1,${randomBytes(32).toString('base64')} ${VECTOR.signature}`,
      };
      expect(await other.verify(request(VECTOR.payload, many, at))).toMatchObject({ reason: 'malformed' });
    });

    it.each([
      ['one byte of the body changed', { body: VECTOR.payload.replace('2432', '2433') }],
      ['the body re-serialised', { body: JSON.stringify(JSON.parse(VECTOR.payload)) }],
      ['another id', { headers: { 'webhook-id': 'msg_other' } }],
      ['another timestamp', { headers: { 'webhook-timestamp': '1614265331' } }],
      [
        'a v2 label on the right signature',
        { headers: { 'webhook-signature': VECTOR.signature.replace('v1,', 'v2,') } },
      ],
      ['no signature', { headers: { 'webhook-signature': undefined } }],
      ['no id', { headers: { 'webhook-id': undefined } }],
    ])(
      'refuses %s as unauthenticated',
      async (_case, change: { body?: string; headers?: Record<string, string | undefined> }) => {
        const changed = Object.fromEntries(
          Object.entries({ ...headers, ...change.headers }).filter(
            (entry): entry is [string, string] => entry[1] !== undefined,
          ),
        );
        const result = await sut.verify(request(change.body ?? VECTOR.payload, changed, at));
        expect(result).toMatchObject({ kind: 'refused', status: 401, reason: 'unauthenticated' });
      },
    );

    it('refuses the authentic vector as stale outside the replay window, either way', async () => {
      for (const receivedAt of [at + WINDOW_MS + 1000, at - WINDOW_MS - 1000]) {
        expect(await sut.verify(request(VECTOR.payload, headers, receivedAt))).toMatchObject({
          status: 401,
          reason: 'stale',
        });
      }
    });
  });

  describe('events from the upstream', () => {
    const key = randomBytes(32);
    const sut = new HttpWebhookProvider([randomBytes(32), key], WINDOW_MS);
    const now = 1_800_000_000_000;
    const event = (type: string, data: Record<string, unknown> = {}) =>
      JSON.stringify({
        type,
        timestamp: '2027-01-15T08:00:00.000Z',
        data: { messageId: 'gw-1', recipient: 'Ada@Example.com', ...data },
      });

    async function verifyBody(body: string, id = 'evt_1') {
      return sut.verify(request(body, signedHeaders(key, id, now / 1000, body), now));
    }

    it.each([
      ['message.delivered', {}, { kind: 'delivered' }],
      ['message.deferred', { detail: '451 greylisted' }, { kind: 'deferred', detail: '451 greylisted' }],
      ['message.bounced', { bounceClass: 'hard' }, { kind: 'bounce', bounceClass: 'hard' }],
      ['message.bounced', {}, { kind: 'bounce', bounceClass: 'undetermined' }],
      // a policy or reputation refusal is neither soft nor hard, whatever the upstream says
      [
        'message.bounced',
        { bounceClass: 'soft', detail: '550 5.7.1 rejected by policy' },
        { kind: 'bounce', bounceClass: 'undetermined', detail: '550 5.7.1 rejected by policy' },
      ],
      [
        'message.bounced',
        { bounceClass: 'hard', detail: '421 4.7.0 try later' },
        { kind: 'bounce', bounceClass: 'undetermined', detail: '421 4.7.0 try later' },
      ],
      [
        'message.bounced',
        { bounceClass: 'soft', detail: '452 4.2.2 mailbox full' },
        { kind: 'bounce', bounceClass: 'soft', detail: '452 4.2.2 mailbox full' },
      ],
      ['message.complained', {}, { kind: 'complaint' }],
      ['message.unsubscribed', {}, { kind: 'unsubscribe' }],
      ['message.dropped', {}, { kind: 'dropped' }],
    ])('reads %s %j', async (type, data, expected) => {
      expect(await verifyBody(event(type, data), 'evt_42')).toEqual({
        kind: 'verified',
        feedback: [
          {
            provider: 'http',
            eventId: 'evt_42',
            recipient: 'ada@example.com',
            gatewayMessageId: 'gw-1',
            detail: '',
            occurredAt: Date.parse('2027-01-15T08:00:00.000Z'),
            ...expected,
          },
        ],
      });
    });

    it.each([
      ['{"type": "message.delivered"', 'not JSON'],
      [event('message.opened'), '"type" must be one of'],
      [event('message.delivered', { recipient: 'nobody' }), '"data.recipient" is not an address'],
      [event('message.delivered', { messageId: '' }), '"data.messageId" is missing'],
      [event('message.delivered', { bounceClass: 'hard' }), '"data.bounceClass"'],
      [event('message.bounced', { bounceClass: 'permanent' }), '"data.bounceClass"'],
      [JSON.stringify({ type: 'message.delivered', timestamp: 'now', data: {} }), '"timestamp"'],
    ])('refuses a signed %s as malformed', async (body, problem) => {
      const result = await verifyBody(body);
      expect(result).toMatchObject({ kind: 'refused', status: 400, reason: 'malformed' });
      expect(result.kind === 'refused' && result.explanation).toContain(problem);
    });
  });

  it('refuses secrets that are not whsec_ and base64 at start', () => {
    expect(() => secretsOf('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/HTTP_WEBHOOK_SECRETS/);
    expect(() => secretsOf('whsec_c2hvcnQ=')).toThrow(/HTTP_WEBHOOK_SECRETS/);
    expect(secretsOf(`${VECTOR.secret} whsec_${randomBytes(32).toString('base64')}`)).toHaveLength(2);
  });
});
