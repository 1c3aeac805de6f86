import { GetMessageResponse, MessageEventType, MessageStatus } from '@mailgateway/contracts';
import { aSendMailRequest, DATABASE_KINDS, ScriptedDriver } from '@mailgateway/testing';
import { gatewayPerTest } from './support/test-gateway';

describe.each(DATABASE_KINDS)('Delivery loop on %s', (kind) => {
  const { gateway, start } = gatewayPerTest(kind);

  const eventTypes = (message: GetMessageResponse) => message.events.map((event) => event.type);

  it('retries retryable outcomes with growing delays until the upstream accepts', async () => {
    const driver = new ScriptedDriver((message) =>
      message.attempt < 4
        ? { kind: 'retry', reason: 'upstream 503' }
        : { kind: 'accepted', providerMessageId: 'p-1' },
    );
    await start({ RETRY_BASE_DELAY_MS: '50', RETRY_MAX_DELAY_MS: '400' }, { driver });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());

    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(message.attempts).toBe(4);
    expect(driver.callsFor(messageId).map((call) => call.attempt)).toEqual([1, 2, 3, 4]);
    // The idempotency key a driver forwards stays the same on every attempt.
    expect(new Set(driver.callsFor(messageId).map((call) => call.idempotencyKey))).toEqual(
      new Set([messageId]),
    );
    expect(eventTypes(message)).toEqual([
      MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      ...Array(3)
        .fill([
          MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
          MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED,
        ])
        .flat(),
      MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
      MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED,
    ]);
    const retries = message.events.filter(
      (event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED,
    );
    expect(retries.every((event) => event.detail.startsWith('upstream 503; retry at '))).toBe(true);
  });

  it('honours the delay a provider asks for', async () => {
    const driver = new ScriptedDriver((message) =>
      message.attempt === 1
        ? { kind: 'retry', reason: '429 Too Many Requests', retryAfterMs: 600 }
        : { kind: 'accepted' },
    );
    await start({ RETRY_BASE_DELAY_MS: '1', RETRY_MAX_DELAY_MS: '5000' }, { driver });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());

    const message = await gateway.finalState(messageId);

    // The provider's answer came after the first attempt started; the wait runs from that answer.
    const [firstAttempt, secondAttempt] = message.events.filter(
      (event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
    );
    const waitedMs =
      (secondAttempt.occurredAt!.seconds - firstAttempt.occurredAt!.seconds) * 1000 +
      (secondAttempt.occurredAt!.nanos - firstAttempt.occurredAt!.nanos) / 1e6;
    expect(waitedMs).toBeGreaterThanOrEqual(600);
  });

  it('attempts a permanent refusal once and marks the message failed', async () => {
    const driver = new ScriptedDriver(() => ({ kind: 'permanent', reason: '422 unknown sender domain' }));
    await start({}, { driver });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());

    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_FAILED);
    expect(driver.callsFor(messageId)).toHaveLength(1);
    expect(message.events.at(-1)).toMatchObject({
      type: MessageEventType.MESSAGE_EVENT_TYPE_FAILED,
      detail: 'refused by scripted: 422 unknown sender domain',
    });
  });

  it('gives up after DELIVERY_MAX_ATTEMPTS retryable failures', async () => {
    const driver = new ScriptedDriver(() => {
      throw new Error('socket hang up');
    });
    await start({ DELIVERY_MAX_ATTEMPTS: '3', RETRY_BASE_DELAY_MS: '5' }, { driver });
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());

    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_FAILED);
    expect(driver.callsFor(messageId)).toHaveLength(3);
    expect(message.events.at(-1)?.detail).toBe('gave up after 3 attempts: driver error: socket hang up');
  });

  it('expires a message that outlives MESSAGE_MAX_AGE_MS', async () => {
    const driver = new ScriptedDriver(() => ({ kind: 'retry', reason: 'upstream down' }));
    await start(
      { MESSAGE_MAX_AGE_MS: '1000', RETRY_BASE_DELAY_MS: '200', RETRY_MAX_DELAY_MS: '400' },
      { driver },
    );
    const { messageId } = await gateway.client.sendMail(aSendMailRequest());

    const message = await gateway.finalState(messageId);

    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_EXPIRED);
    const expired = message.events.at(-1)!;
    expect(expired.type).toBe(MessageEventType.MESSAGE_EVENT_TYPE_EXPIRED);
    expect(expired.detail).toMatch(/^expired: /);
    // It was tried, and never scheduled past its maximum age: each retry was planned before
    // acceptance + MESSAGE_MAX_AGE_MS (the schedule the gateway wrote, not this machine's speed).
    const sends = driver.callsFor(messageId);
    expect(sends.length).toBeGreaterThan(0);
    const expiresAtMs =
      message.acceptedAt!.seconds * 1000 + Math.floor(message.acceptedAt!.nanos / 1e6) + 1000;
    const retryTimes = message.events
      .filter((event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_RETRY_SCHEDULED)
      .map((event) => Date.parse(/; retry at (\S+)$/.exec(event.detail)?.[1] ?? ''));
    expect(retryTimes.filter((at) => !(at < expiresAtMs))).toEqual([]);
    // Every attempt but one that expired unsent reached the driver; none came after the expiry.
    const attempts = eventTypes(message).filter(
      (type) => type === MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
    ).length;
    expect(sends).toHaveLength(/not sent/.test(expired.detail) ? attempts - 1 : attempts);
  });
});
