import { ServiceError, status } from '@grpc/grpc-js';
import { aMail, FakeAnswer, FakeMailGatewayServer } from '@mailgateway/testing';
import {
  isAlreadyCancelled,
  MailGatewayClient,
  MailGatewayClientOptions,
  toTimestamp,
} from './mail-gateway.client';

const MIB = 1024 * 1024;

describe(MailGatewayClient.name, () => {
  let server: FakeMailGatewayServer | undefined;
  let sut: MailGatewayClient | undefined;

  const start = async (
    script: (call: { index: number; idempotencyKey: string }) => FakeAnswer,
    options: Partial<MailGatewayClientOptions> = {},
    serverOptions: { maxReceiveMessageBytes?: number } = {},
  ) => {
    server = await FakeMailGatewayServer.start(script, serverOptions);
    sut = new MailGatewayClient({ address: server.address, ...options });
    return { server, sut };
  };

  afterEach(() => {
    sut?.close();
    server?.close();
    sut = server = undefined;
  });

  it('retries through a throttled window, waiting as advised, without creating a duplicate', async () => {
    const advisedMs = 100;
    let windowEndsAt = 0;
    const { server, sut } = await start(({ index }) => {
      if (index === 0) windowEndsAt = Date.now() + 300;
      return Date.now() < windowEndsAt ? { kind: 'throttled', retryDelayMs: advisedMs } : { kind: 'ok' };
    });

    const sent = await Promise.all([sut.send(aMail()), sut.send(aMail()), sut.send(aMail())]);

    expect(new Set(sent.map(({ messageId }) => messageId)).size).toBe(3);
    expect(sent.every(({ replayed }) => !replayed)).toBe(true);
    expect(server.messages.size).toBe(3);
    const keys = [...server.messages.keys()];
    expect(new Set(server.calls.map((call) => call.idempotencyKey))).toEqual(new Set(keys));
    for (const key of keys) {
      const calls = server.callsFor(key);
      expect(calls.length).toBeGreaterThan(1);
      expect(calls.at(-1)!.answer.kind).toBe('ok');
      // Each retry came no sooner than the server advised after the answer before it.
      for (let index = 1; index < calls.length; index++) {
        expect(calls[index].answeredAt - calls[index - 1].answeredAt).toBeGreaterThanOrEqual(advisedMs);
      }
    }
  });

  it('honours a retry-after entry when the status carries no RetryInfo', async () => {
    const { server, sut } = await start(({ index }) =>
      index === 0 ? { kind: 'throttled', retryDelayMs: 250, via: 'retry-after' } : { kind: 'ok' },
    );

    await sut.send(aMail());

    expect(server.calls).toHaveLength(2);
    expect(server.calls[1].answeredAt - server.calls[0].answeredAt).toBeGreaterThanOrEqual(250);
  });

  it('keeps the idempotency key across a retry after a lost answer, so the message exists once', async () => {
    const { server, sut } = await start(({ index }) =>
      index === 0 ? { kind: 'unavailable', committed: true } : { kind: 'ok' },
    );

    const sent = await sut.send(aMail());

    expect(server.calls).toHaveLength(2);
    expect(server.calls[0].idempotencyKey).toBe(server.calls[1].idempotencyKey);
    expect(server.messages.size).toBe(1);
    expect(sent).toMatchObject({
      messageId: server.messages.get(server.calls[0].idempotencyKey),
      replayed: true,
    });
  });

  it('retries a message larger than grpc-js buffers for retries by default (256 KiB) after UNAVAILABLE', async () => {
    const { server, sut } = await start(({ index }) =>
      index === 0 ? { kind: 'unavailable', committed: true } : { kind: 'ok' },
    );

    const sent = await sut.send(aMail({ textBody: 'x'.repeat(MIB) }));

    expect(server.calls).toHaveLength(2);
    expect(server.calls[1].idempotencyKey).toBe(server.calls[0].idempotencyKey);
    expect(sent.replayed).toBe(true);
  });

  it('does not retry a message larger than the server accepts: the answer would not change', async () => {
    const { server, sut } = await start(() => ({ kind: 'ok' }), {}, { maxReceiveMessageBytes: 10 * MIB });

    const error = (await sut
      .send(aMail({ textBody: 'x'.repeat(12 * MIB) }))
      .catch((caught: unknown) => caught)) as ServiceError;

    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toMatch(/larger than max/);
    expect(server.attempts).toBe(1);
    expect(server.calls).toHaveLength(0);
  });

  it("uses the caller's idempotency key when it gives one", async () => {
    const { server, sut } = await start(() => ({ kind: 'ok' }));
    await sut.send(aMail(), { idempotencyKey: 'invoice-42' });
    await sut.sendMail({ mail: aMail(), idempotencyKey: 'invoice-43' });
    expect(server.calls.map((call) => call.idempotencyKey)).toEqual(['invoice-42', 'invoice-43']);
  });

  it('does not retry other errors', async () => {
    const { server, sut } = await start(() => ({ kind: 'invalid' }));
    const error = (await sut.send(aMail()).catch((caught: unknown) => caught)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(server.calls).toHaveLength(1);
  });

  it('stops after maxAttempts and answers with the last error', async () => {
    const { server, sut } = await start(() => ({ kind: 'unavailable' }), {
      retry: { maxAttempts: 3, initialBackoffMs: 1 },
    });
    const error = (await sut.send(aMail()).catch((caught: unknown) => caught)) as ServiceError;
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(server.calls).toHaveLength(3);
  });

  it('does not wait past the call deadline: advice beyond it ends the call with the cause', async () => {
    const { server, sut } = await start(() => ({ kind: 'throttled', retryDelayMs: 60_000 }));
    const error = (await sut
      .send(aMail(), { deadlineMs: 2_000 })
      .catch((caught: unknown) => caught)) as ServiceError;
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(server.calls).toHaveLength(1);
  });

  describe('load balancing', () => {
    let servers: FakeMailGatewayServer[] = [];
    afterEach(() => {
      for (const each of servers) each.close();
      servers = [];
    });

    /** 20 sends through a target naming two servers; how many calls each server got. */
    const spread = async (options: Partial<MailGatewayClientOptions>) => {
      servers = await Promise.all([0, 1].map(() => FakeMailGatewayServer.start(() => ({ kind: 'ok' }))));
      sut = new MailGatewayClient({
        address: `ipv4:${servers.map((each) => each.address).join(',')}`,
        ...options,
      });
      for (let index = 0; index < 20; index++) await sut.send(aMail());
      return servers.map((each) => each.calls.length);
    };

    it('spreads calls over every address the target names with round_robin', async () => {
      const counts = await spread({ loadBalancing: 'round_robin' });
      expect(counts[0] + counts[1]).toBe(20);
      expect(Math.min(...counts)).toBeGreaterThan(0);
    });

    it("keeps one connection with grpc-js's default, pick_first", async () => {
      expect((await spread({})).sort()).toEqual([0, 20]);
    });
  });
});

describe(toTimestamp.name, () => {
  it.each<[Date | number, { seconds: number; nanos: number }]>([
    [0, { seconds: 0, nanos: 0 }],
    [1_796_227_200_123, { seconds: 1_796_227_200, nanos: 123_000_000 }],
    [new Date('2026-12-24T18:00:00.999Z'), { seconds: 1_798_135_200, nanos: 999_000_000 }],
    [-1, { seconds: -1, nanos: 999_000_000 }],
  ])('writes %p as seconds and nanos', (time, expected) => {
    expect(toTimestamp(time)).toEqual(expected);
  });

  it('refuses a time that is not one', () => {
    expect(() => toTimestamp(new Date('tomorrow'))).toThrow('not a valid time');
    expect(() => toTimestamp(NaN)).toThrow(RangeError);
  });
});

describe(isAlreadyCancelled.name, () => {
  const error = (code: status, details: string) =>
    Object.assign(new Error(details), { code, details, metadata: undefined! }) as ServiceError;

  it('reads the refusal of a cancel of a cancelled message, as an error or a batch rejection', () => {
    expect(isAlreadyCancelled(error(status.FAILED_PRECONDITION, 'the message is already CANCELLED'))).toBe(
      true,
    );
    expect(
      isAlreadyCancelled({
        code: 'FAILED_PRECONDITION',
        field: 'message_ids[0]',
        reason: 'the message is already CANCELLED',
      }),
    ).toBe(true);
  });

  it.each<[status, string]>([
    [status.FAILED_PRECONDITION, 'the message is already DELIVERED'],
    [
      status.FAILED_PRECONDITION,
      'attempt 1 is sending the message now; if it does not deliver, no other attempt follows and the message ends CANCELLED',
    ],
    [status.NOT_FOUND, 'the message is already CANCELLED'],
  ])('is false for %p %p', (code, details) => {
    expect(isAlreadyCancelled(error(code, details))).toBe(false);
    expect(isAlreadyCancelled({ code: status[code], field: 'message_ids[0]', reason: details })).toBe(false);
  });
});
