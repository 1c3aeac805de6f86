import { ServiceError, status } from '@grpc/grpc-js';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  provisionTestDatabase,
  TestDatabase,
  testRedisUrl,
  uniqueRedisPrefix,
} from '@mailgateway/testing';
import { expectGrpcError, retryAdviceOf } from './support/grpc-assertions';
import { startTestGateway, TestGateway } from './support/test-gateway';

const WINDOW_MS = 60_000;
const STORAGES = ['memory', 'redis'] as const;
const batchOf = (count: number) => ({ items: Array.from({ length: count }, () => aSendMailRequest()) });

describe.each(DATABASE_KINDS)('Rate limits on %s', (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await provisionTestDatabase(kind);
  });
  afterAll(() => database?.drop());

  describe.each(STORAGES)('with %s counters', (storage) => {
    let gateway: TestGateway | undefined;
    afterEach(async () => {
      await gateway?.close();
      gateway = undefined;
    });

    const start = (env: Record<string, string>) =>
      startTestGateway({
        ...database.env,
        DELIVERY_ENABLED: 'false',
        RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
        ...(storage === 'redis' ? { REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {}),
        ...env,
      });

    it('keeps one bucket per source and answers RESOURCE_EXHAUSTED with when to come back', async () => {
      gateway = await start({ RATE_LIMIT_SOURCE_MESSAGES: '5' });
      const first = gateway.connect(await gateway.addSource(`first-${storage}`, ['mail.send', 'mail.read']));
      const second = gateway.connect(await gateway.addSource(`second-${storage}`, ['mail.send']));

      const before = await gateway.count('outbox_message');
      const accepted = [];
      for (let i = 0; i < 5; i++) accepted.push(await first.sendMail(aSendMailRequest()));
      const error = await expectGrpcError(
        first.sendMail(aSendMailRequest()),
        status.RESOURCE_EXHAUSTED,
        /^rate limit "source" exceeded: 5 messages per 60 s; retry in \d+ s$/,
      );
      const advice = retryAdviceOf(error);
      expect(advice.retryDelayMs).toBeGreaterThan(0);
      expect(advice.retryDelayMs).toBeLessThanOrEqual(WINDOW_MS);
      expect(advice.retryAfterSeconds).toBe(Math.ceil(advice.retryDelayMs! / 1000));

      // Another source has its own bucket; reads are not counted.
      await second.sendMail(aSendMailRequest());
      expect((await first.getMessage({ messageId: accepted[0].messageId })).messageId).toBe(
        accepted[0].messageId,
      );
      expect(await gateway.count('outbox_message')).toBe(before + 6);
    });

    it('counts a batch as its number of messages and refuses one that would go over, whole', async () => {
      gateway = await start({});
      const client = gateway.connect(
        await gateway.addSource(`batch-${storage}`, ['mail.send'], { rateLimitMessages: 10 }),
      );
      const before = await gateway.count('outbox_message');
      expect((await client.sendMailBatch(batchOf(7))).results).toHaveLength(7);
      const error = await expectGrpcError(client.sendMailBatch(batchOf(4)), status.RESOURCE_EXHAUSTED);
      expect(retryAdviceOf(error).retryDelayMs).toBeGreaterThan(0);
      expect(await gateway.count('outbox_message')).toBe(before + 7);
      // The refused batch took nothing: the 3 messages left still fit.
      expect((await client.sendMailBatch(batchOf(3))).results).toHaveLength(3);
      await expectGrpcError(client.sendMail(aSendMailRequest()), status.RESOURCE_EXHAUSTED);
    });

    it('refuses a batch larger than the whole limit as INVALID_ARGUMENT: waiting would not help', async () => {
      gateway = await start({ RATE_LIMIT_SOURCE_MESSAGES: '10' });
      await expectGrpcError(
        gateway.client.sendMailBatch(batchOf(11)),
        status.INVALID_ARGUMENT,
        /^items: 11 messages in one call; limit "source" allows 10 per window$/,
      );
    });

    it('holds a global limit across sources', async () => {
      gateway = await start({ RATE_LIMIT_GLOBAL_MESSAGES: '6', RATE_LIMIT_SOURCE_MESSAGES: '100' });
      const first = gateway.connect(await gateway.addSource(`g1-${storage}`, ['mail.send']));
      const second = gateway.connect(await gateway.addSource(`g2-${storage}`, ['mail.send']));
      for (let i = 0; i < 3; i++) {
        await first.sendMail(aSendMailRequest());
        await second.sendMail(aSendMailRequest());
      }
      for (const client of [first, second]) {
        await expectGrpcError(
          client.sendMail(aSendMailRequest()),
          status.RESOURCE_EXHAUSTED,
          /^rate limit "global"/,
        );
      }
    });

    it('applies limits only to authenticated callers: a bad key is UNAUTHENTICATED, and spends nothing', async () => {
      gateway = await start({ RATE_LIMIT_SOURCE_MESSAGES: '1' });
      const stranger = gateway.connect('mgw_0123456789ab_' + 'A'.repeat(43));
      for (let i = 0; i < 3; i++)
        await expectGrpcError(stranger.sendMail(aSendMailRequest()), status.UNAUTHENTICATED);
      await gateway.client.sendMail(aSendMailRequest());
      const error = (await gateway.client
        .sendMail(aSendMailRequest())
        .catch((e: ServiceError) => e)) as ServiceError;
      expect(status[error.code]).toBe('RESOURCE_EXHAUSTED');
    });
  });
});
