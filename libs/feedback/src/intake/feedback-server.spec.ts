import { request as httpRequest } from 'node:http';
import { GatewayMetrics } from '@mailgateway/observability';
import { waitFor } from '@mailgateway/testing';
import type { ProviderFeedback } from '../provider-feedback';
import { FeedbackIntakeMetrics } from './feedback-intake-metrics';
import { FeedbackServer } from './feedback-server';
import type { InboundRequest, Verification, WebhookProvider } from './webhook-provider';

const FEEDBACK: ProviderFeedback = {
  provider: 'test',
  eventId: 'e1',
  kind: 'delivered',
  recipient: 'ada@example.com',
  detail: '',
  occurredAt: 1,
};

/** A provider that verifies what the test says, and remembers what it was given. */
class ScriptedProvider implements WebhookProvider {
  readonly name = 'test';
  readonly seen: InboundRequest[] = [];
  answer: Verification | Error = { kind: 'verified', feedback: [FEEDBACK] };

  verify(request: InboundRequest): Promise<Verification> {
    this.seen.push(request);
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }
}

function post(
  port: number,
  path: string,
  body: string,
): Promise<{ status: number; text: string; at: number }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, method: 'POST' }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () =>
        resolve({ status: response.statusCode!, text: Buffer.concat(parts).toString(), at: Date.now() }),
      );
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe(FeedbackServer.name, () => {
  const provider = new ScriptedProvider();
  const stored: { feedback: readonly ProviderFeedback[]; at: number }[] = [];
  let store: (feedback: readonly ProviderFeedback[]) => Promise<{ stored: number; duplicates: number }>;
  const warnings: string[] = [];
  let sut: FeedbackServer;
  let port: number;

  beforeAll(async () => {
    sut = new FeedbackServer({
      maxBodyBytes: 1024,
      providers: [provider],
      notifications: { store: (feedback) => store(feedback) },
      metrics: new FeedbackIntakeMetrics(new GatewayMetrics()),
      logger: {
        log: () => undefined,
        error: () => undefined,
        warn: (line: string) => void warnings.push(line),
      },
      now: () => 42,
    });
    port = await sut.listen('127.0.0.1', 0);
  });
  afterAll(() => sut.close());
  beforeEach(() => {
    provider.answer = { kind: 'verified', feedback: [FEEDBACK] };
    store = (feedback) => {
      stored.push({ feedback, at: Date.now() });
      return Promise.resolve({ stored: feedback.length, duplicates: 0 });
    };
  });

  it('hands the provider the raw bytes, the path after its name and the time read', async () => {
    await post(port, '/webhooks/test/tok-en?x=1', '  {"raw":  true}\r\n');
    expect(provider.seen.at(-1)).toMatchObject({ method: 'POST', subpath: '/tok-en', receivedAt: 42 });
    expect(provider.seen.at(-1)!.body.toString()).toBe('  {"raw":  true}\r\n');
  });

  it('answers 204 only once the store has committed', async () => {
    let commit: (() => void) | undefined;
    store = (feedback) =>
      new Promise((resolve) => {
        commit = () => {
          stored.push({ feedback, at: Date.now() });
          resolve({ stored: 1, duplicates: 0 });
        };
      });
    const answer = post(port, '/webhooks/test', '[]');
    let answered = false;
    void answer.then(() => (answered = true));
    const commitNow = await waitFor('the store called', () => commit);
    // Time enough for an answer sent before the commit to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    commitNow();
    const { status, at } = await answer;
    expect(status).toBe(204);
    expect(stored.at(-1)!.at).toBeLessThanOrEqual(at);
  });

  it('answers 503 when the store fails, so the provider retries', async () => {
    store = () => Promise.reject(new Error('connection terminated'));
    expect(await post(port, '/webhooks/test', '[]')).toMatchObject({
      status: 503,
      text: 'not stored; retry later\n',
    });
  });

  it("answers a refusal with the provider's status and explanation, stores nothing and logs one line", async () => {
    provider.answer = {
      kind: 'refused',
      status: 401,
      reason: 'unauthenticated',
      explanation: 'bad signature',
    };
    const before = stored.length;
    warnings.length = 0;
    expect(await post(port, '/webhooks/test', 'secret-body-text')).toMatchObject({
      status: 401,
      text: 'bad signature\n',
    });
    expect(stored.length).toBe(before);
    expect(warnings).toEqual([
      'webhook refused: provider=test reason=unauthenticated status=401 remote=127.0.0.1: bad signature',
    ]);
  });

  it('answers 503 when a provider cannot verify now (e.g. a certificate fetch failed), storing nothing', async () => {
    provider.answer = new Error('certificate fetch failed');
    const before = stored.length;
    expect((await post(port, '/webhooks/test', '[]')).status).toBe(503);
    expect(stored.length).toBe(before);
  });

  it('answers 404 for other paths and deeper ones', async () => {
    for (const path of ['/webhooks/other', '/webhooks/test/a/b', '/webhooks', '/']) {
      expect((await post(port, path, '[]')).status).toBe(404);
    }
  });
});
