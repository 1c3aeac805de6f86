import { ServiceError, status } from '@grpc/grpc-js';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  OwnRedisServer,
  provisionTestDatabase,
  TestDatabase,
  uniqueRedisPrefix,
  waitFor,
} from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { startTestGateway, TestGateway } from './support/test-gateway';

const LIMIT = 3;

// A Redis of the test's own, stopped and started mid-run: the machine's shared Redis is never touched.
describe.each(DATABASE_KINDS)('Rate limits when Redis stops mid-run on %s', (kind) => {
  let redis: OwnRedisServer;
  let database: TestDatabase;
  let failOpen: TestGateway;
  let failClosed: TestGateway;

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    database = await provisionTestDatabase(kind);
    const env = {
      ...database.env,
      DELIVERY_ENABLED: 'false',
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '100',
      RATE_LIMIT_SOURCE_MESSAGES: String(LIMIT),
      LOG_LEVEL: 'fatal',
    };
    failOpen = await startTestGateway({
      ...env,
      REDIS_KEY_PREFIX: uniqueRedisPrefix(),
      RATE_LIMIT_ON_REDIS_FAILURE: 'open',
    });
    failClosed = await startTestGateway({
      ...env,
      REDIS_KEY_PREFIX: uniqueRedisPrefix(),
      RATE_LIMIT_ON_REDIS_FAILURE: 'closed',
    });
  });

  afterAll(async () => {
    await failOpen?.close();
    await failClosed?.close();
    await redis?.stop();
    await database?.drop();
  });

  const send = (gateway: TestGateway) => gateway.client.sendMail(aSendMailRequest());
  const outcome = (gateway: TestGateway) =>
    send(gateway).then(
      () => 'OK',
      (error: ServiceError) => status[error.code],
    );

  it('limits through Redis while it is up, then applies the configured failure policy, then limits again', async () => {
    for (const gateway of [failOpen, failClosed]) {
      for (let i = 0; i < LIMIT; i++) await send(gateway);
      await expectGrpcError(send(gateway), status.RESOURCE_EXHAUSTED);
    }

    await redis.stop();

    // Fail open: calls pass unthrottled, well past the limit. Fail closed: UNAVAILABLE, nothing stored.
    const stored = await failClosed.count('outbox_message'); // one database for both gateways
    for (let i = 0; i < 2 * LIMIT; i++) {
      expect(await outcome(failOpen)).toBe('OK');
      await expectGrpcError(
        send(failClosed),
        status.UNAVAILABLE,
        'rate limiter unavailable; retry with backoff',
      );
    }
    expect(await failClosed.count('outbox_message')).toBe(stored + 2 * LIMIT);

    await redis.start();

    // Both reconnect on their own; the restarted Redis has fresh counters, so limits hold anew.
    // Fail closed: the first OK means Redis is back, and the limit then holds.
    await waitFor('the fail-closed gateway to use Redis again', async () =>
      (await outcome(failClosed)) === 'OK' ? true : undefined,
    );
    for (let i = 1; i < LIMIT; i++) await send(failClosed);
    await expectGrpcError(send(failClosed), status.RESOURCE_EXHAUSTED);
    // Fail open passes everything while disconnected, so it is back once it throttles again.
    await waitFor('the fail-open gateway to throttle again', async () =>
      (await outcome(failOpen)) === 'RESOURCE_EXHAUSTED' ? true : undefined,
    );
  });
});
