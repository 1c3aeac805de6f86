import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { FeedbackIntakeLifecycle } from '@mailgateway/feedback';
import { DATABASE_KINDS, provisionTestDatabase, TestDatabase } from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { startTestGateway, TestGateway } from './support/test-gateway';

const MAX_BODY_BYTES = 64 * 1024;
/** Appears in every body posted here: no log line may hold it. */
const BODY_MARKER = `body-canary-${randomBytes(6).toString('hex')}`;

const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const sendgridPublicKey = sendgridKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
const postmark = {
  username: 'postmark-hooks',
  password: `pw-${randomBytes(12).toString('hex')}`,
  pathToken: randomBytes(24).toString('hex'),
};
const httpKey = randomBytes(32);

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** A raw HTTP POST: the body's bytes exactly as given (chunked when given as several chunks). */
function post(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Buffer | Buffer[],
  method = 'POST',
) {
  return new Promise<Answer>((resolve, reject) => {
    const chunks = Array.isArray(body) ? body : [body];
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false, // a connection per request, as providers make them
        headers: Array.isArray(body) ? headers : { ...headers, 'content-length': String(body.length) },
      },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () =>
          resolve({ status: response.statusCode!, text: Buffer.concat(parts).toString() }),
        );
      },
    );
    request.on('error', reject);
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

function sendgridBody(events: Record<string, unknown>[]): Buffer {
  return Buffer.from(`${JSON.stringify(events)}\r\n`);
}

function sendgridHeaders(
  body: Buffer,
  timestampSeconds = Math.floor(Date.now() / 1000),
  key = sendgridKeys.privateKey,
) {
  const timestamp = String(timestampSeconds);
  const signature = sign('sha256', Buffer.concat([Buffer.from(timestamp), body]), {
    key,
    dsaEncoding: 'der',
  });
  return {
    'content-type': 'application/json',
    'x-twilio-email-event-webhook-signature': signature.toString('base64'),
    'x-twilio-email-event-webhook-timestamp': timestamp,
  };
}

const postmarkAuthorization = (password = postmark.password) =>
  `Basic ${Buffer.from(`${postmark.username}:${password}`).toString('base64')}`;

function httpHeaders(id: string, body: Buffer, timestampSeconds = Math.floor(Date.now() / 1000)) {
  const signature = createHmac('sha256', httpKey)
    .update(Buffer.concat([Buffer.from(`${id}.${timestampSeconds}.`), body]))
    .digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

describe.each(DATABASE_KINDS)('Provider webhooks on %s', (kind) => {
  let database: TestDatabase;
  let gateway: TestGateway;
  let port: number;
  const logLines: string[] = [];

  const rows = async (provider?: string): Promise<number> => {
    const where = provider ? ` WHERE provider = '${provider}'` : '';
    const [{ count }] = await gateway.app
      .get(DataSource)
      .query(`SELECT COUNT(*) AS count FROM provider_notification${where}`);
    return Number(count);
  };

  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
    gateway = await startTestGateway(
      {
        ...database.env,
        LOG_LEVEL: 'log',
        FEEDBACK_HOST: '127.0.0.1',
        FEEDBACK_PORT: '0',
        FEEDBACK_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
        SENDGRID_WEBHOOK_PUBLIC_KEY: sendgridPublicKey,
        POSTMARK_WEBHOOK_USERNAME: postmark.username,
        POSTMARK_WEBHOOK_PASSWORD: postmark.password,
        POSTMARK_WEBHOOK_PATH_TOKEN: postmark.pathToken,
        HTTP_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')} whsec_${httpKey.toString('base64')}`,
      },
      { logDestination: { write: (line: string) => void logLines.push(line) } },
    );
    port = gateway.app.get(FeedbackIntakeLifecycle).port!;
  });
  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  describe('sendgrid', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const events = () => [
      {
        event: 'processed',
        email: `${BODY_MARKER}@example.com`,
        sg_event_id: 'sg-p',
        sg_message_id: 'm1.filter1',
        timestamp: now(),
      },
      {
        event: 'delivered',
        email: 'ada@example.com',
        sg_event_id: 'sg-d',
        sg_message_id: 'm1.filter1',
        timestamp: now(),
        response: BODY_MARKER,
      },
      {
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        email: 'bob@example.com',
        sg_event_id: 'sg-b',
        sg_message_id: 'm1.filter1',
        timestamp: now(),
        reason: BODY_MARKER,
      },
    ];

    it('stores a signed batch once, however often SendGrid retries it', async () => {
      const body = sendgridBody(events());
      expect(await post(port, '/webhooks/sendgrid', sendgridHeaders(body), body)).toEqual({
        status: 204,
        text: '',
      });
      expect(await post(port, '/webhooks/sendgrid', sendgridHeaders(body), body)).toEqual({
        status: 204,
        text: '',
      });
      expect(await rows('sendgrid')).toBe(2); // processed is not an outcome
    });

    it('refuses forged, re-serialised and stale batches, storing nothing', async () => {
      const before = await rows();
      const body = sendgridBody([{ ...events()[1], sg_event_id: 'sg-forged' }]);
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      const forged = await post(port, '/webhooks/sendgrid', sendgridHeaders(body, now(), otherKey), body);
      expect(forged).toEqual({ status: 401, text: 'the signature does not match the body and timestamp\n' });
      const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
      expect((await post(port, '/webhooks/sendgrid', sendgridHeaders(body), reserialised)).status).toBe(401);
      const stale = await post(port, '/webhooks/sendgrid', sendgridHeaders(body, now() - 600), body);
      expect(stale).toEqual({
        status: 401,
        text: 'X-Twilio-Email-Event-Webhook-Timestamp is outside the replay window\n',
      });
      expect((await post(port, '/webhooks/sendgrid', {}, body)).status).toBe(401);
      expect(await rows()).toBe(before);
    });

    it('refuses a signed body that is not its shape with 400', async () => {
      const before = await rows();
      const body = Buffer.from(`{"event": "delivered", "email": "${BODY_MARKER}"}`);
      const answer = await post(port, '/webhooks/sendgrid', sendgridHeaders(body), body);
      expect(answer).toEqual({ status: 400, text: 'the body is not a JSON array of events\n' });
      expect(await rows()).toBe(before);
    });
  });

  describe('postmark', () => {
    const bounce = Buffer.from(
      JSON.stringify({
        RecordType: 'Bounce',
        ID: 692560173,
        Type: 'HardBounce',
        MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
        Email: 'carol@example.com',
        Details: BODY_MARKER,
        BouncedAt: '2026-12-01T10:00:00Z',
        Metadata: { mailgateway_id: 'gw-1' },
      }),
    );
    const headers = (authorization = postmarkAuthorization()) => ({
      'content-type': 'application/json',
      authorization,
    });

    it('stores a record posted with the credentials to the token path, once', async () => {
      const path = `/webhooks/postmark/${postmark.pathToken}`;
      expect((await post(port, path, headers(), bounce)).status).toBe(204);
      expect((await post(port, path, headers(), bounce)).status).toBe(204);
      expect(await rows('postmark')).toBe(1);
    });

    it('refuses a wrong path token, no token, or wrong credentials, storing nothing', async () => {
      const before = await rows();
      const wrongToken = `/webhooks/postmark/${randomBytes(24).toString('hex')}`;
      expect((await post(port, wrongToken, headers(), bounce)).status).toBe(401);
      expect((await post(port, '/webhooks/postmark', headers(), bounce)).status).toBe(401);
      const path = `/webhooks/postmark/${postmark.pathToken}`;
      expect(
        (await post(port, path, headers(postmarkAuthorization('wrong-password-123')), bounce)).status,
      ).toBe(401);
      expect((await post(port, path, { 'content-type': 'application/json' }, bounce)).status).toBe(401);
      expect(await rows()).toBe(before);
    });
  });

  describe('http (Standard Webhooks)', () => {
    const event = Buffer.from(
      JSON.stringify({
        type: 'message.complained',
        timestamp: new Date().toISOString(),
        data: { messageId: 'gw-2', recipient: 'dave@example.com', detail: BODY_MARKER },
      }),
    );

    it('stores a signed event once per webhook-id', async () => {
      expect((await post(port, '/webhooks/http', httpHeaders('evt_1', event), event)).status).toBe(204);
      expect((await post(port, '/webhooks/http', httpHeaders('evt_1', event), event)).status).toBe(204);
      expect(await rows('http')).toBe(1);
    });

    it('refuses a forged or stale event, storing nothing', async () => {
      const before = await rows();
      const forged = {
        ...httpHeaders('evt_2', event),
        'webhook-signature': `v1,${randomBytes(32).toString('base64')}`,
      };
      expect((await post(port, '/webhooks/http', forged, event)).status).toBe(401);
      const stale = httpHeaders('evt_3', event, Math.floor(Date.now() / 1000) - 3600);
      expect(await post(port, '/webhooks/http', stale, event)).toEqual({
        status: 401,
        text: 'webhook-timestamp is outside the replay window\n',
      });
      expect(await rows()).toBe(before);
    });
  });

  describe('the listener', () => {
    it('refuses a body over the cap with 413, declared or streamed, storing nothing', async () => {
      const before = await rows();
      const large = Buffer.alloc(MAX_BODY_BYTES + 1, 'a');
      const declared = await post(port, '/webhooks/http', httpHeaders('evt_big', large), large);
      expect(declared).toEqual({ status: 413, text: `the body is over ${MAX_BODY_BYTES} bytes\n` });
      const streamed = await post(port, '/webhooks/sendgrid', { 'content-type': 'application/json' }, [
        Buffer.alloc(MAX_BODY_BYTES / 2, 'a'),
        Buffer.alloc(MAX_BODY_BYTES / 2, 'a'),
        Buffer.alloc(1024, 'a'),
      ]);
      expect(streamed.status).toBe(413);
      expect(await rows()).toBe(before);
    });

    it('answers 404 outside the configured providers and 405 to another method', async () => {
      expect((await post(port, '/webhooks/mailgun', {}, Buffer.from('{}'))).status).toBe(404);
      expect((await post(port, '/metrics', {}, Buffer.from(''))).status).toBe(404);
      expect((await post(port, '/webhooks/sendgrid', {}, Buffer.from(''), 'PUT')).status).toBe(405);
    });

    it('counts requests, refusals by reason and stored notifications by outcome', async () => {
      const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      expect(metrics).toContain(
        'mailgateway_feedback_notifications_stored_total{provider="sendgrid",outcome="new"} 2',
      );
      expect(metrics).toContain(
        'mailgateway_feedback_notifications_stored_total{provider="sendgrid",outcome="duplicate"} 2',
      );
      expect(metrics).toMatch(
        /mailgateway_feedback_requests_refused_total\{provider="sendgrid",reason="stale"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /mailgateway_feedback_requests_refused_total\{provider="http",reason="too-large"\} 1/,
      );
      expect(metrics).toMatch(/mailgateway_feedback_requests_verified_total\{provider="postmark"\} 2/);
    });

    it('logs one line per refusal with provider, reason and remote address, and never a body or a secret', () => {
      const log = logLines.join('');
      expect(log).toContain(
        'webhook refused: provider=sendgrid reason=unauthenticated status=401 remote=127.0.0.1',
      );
      expect(log).toContain('webhook refused: provider=postmark reason=unauthenticated');
      expect(log).toContain('webhook refused: provider=http reason=too-large status=413');
      for (const secret of [BODY_MARKER, postmark.password, postmark.pathToken, httpKey.toString('base64')])
        expect(log).not.toContain(secret);
    });

    it('stops listening when the gateway shuts down', async () => {
      await gateway.close();
      await expect(post(port, '/webhooks/http', {}, Buffer.from('{}'))).rejects.toMatchObject({
        code: 'ECONNREFUSED',
      });
    });
  });
});

describe('Provider webhooks without a configured provider', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  beforeAll(async () => {
    database = await provisionTestDatabase('sqlite');
    gateway = await startTestGateway({ ...database.env, FEEDBACK_HOST: '127.0.0.1', FEEDBACK_PORT: '0' });
  });
  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it('opens no listener', () => {
    expect(gateway.app.get(FeedbackIntakeLifecycle).port).toBeNull();
  });
});
