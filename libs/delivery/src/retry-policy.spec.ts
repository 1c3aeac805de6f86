import { loadConfigSlice } from '@mailgateway/config';
import { ClaimedMessage, MessageStatus } from '@mailgateway/outbox';
import { aMail } from '@mailgateway/testing';
import { deliveryConfig } from './delivery.settings';
import { RetryPolicy } from './retry-policy';

describe(RetryPolicy.name, () => {
  const now = 1_700_000_000_000;
  const config = loadConfigSlice(deliveryConfig, {
    RETRY_BASE_DELAY_MS: '1000',
    RETRY_MAX_DELAY_MS: '60000',
    DELIVERY_MAX_ATTEMPTS: '5',
  });
  const claim = (attempt: number, expiresAt = now + 86_400_000): ClaimedMessage => ({
    id: 'message-1',
    source: 'default',
    idempotencyKey: null,
    mail: aMail(),
    attempt,
    leaseToken: attempt,
    acceptedAt: now - 1000,
    expiresAt,
    traceparent: null,
  });
  let sut: RetryPolicy;
  let random: jest.SpyInstance;

  beforeEach(() => {
    sut = new RetryPolicy(config);
    random = jest.spyOn(Math, 'random');
  });

  afterEach(() => random.mockRestore());

  it('doubles the ceiling with every attempt and caps it', () => {
    random.mockReturnValue(1);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => sut.delayBeforeNextAttempt(attempt))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
    ]);
  });

  it('draws the delay uniformly below the ceiling (full jitter)', () => {
    random.mockReturnValue(0.25);
    expect(sut.delayBeforeNextAttempt(3)).toBe(1000);
    random.mockReturnValue(0);
    expect(sut.delayBeforeNextAttempt(3)).toBe(0);
  });

  it('waits at least as long as the provider asked, within the maximum delay', () => {
    random.mockReturnValue(0);
    expect(sut.delayBeforeNextAttempt(1, 30_000)).toBe(30_000);
    expect(sut.delayBeforeNextAttempt(1, 3_600_000)).toBe(60_000);
  });

  it('retries within the maximum delay when the provider asks for longer, instead of expiring the message', () => {
    random.mockReturnValue(0);
    const retryAfterMs = 365 * 86_400_000;
    const { outcome } = sut.settle(claim(1), { kind: 'retry', reason: '429', retryAfterMs }, 'p', now);
    expect(outcome).toEqual({
      status: MessageStatus.Retrying,
      provider: 'p',
      nextAttemptAt: now + 60_000,
      error: '429',
    });
  });

  it('marks an accepted message delivered with the provider id', () => {
    expect(sut.settle(claim(1), { kind: 'accepted', providerMessageId: 'abc' }, 'sandbox', now)).toEqual({
      outcome: { status: MessageStatus.Delivered, provider: 'sandbox', providerMessageId: 'abc' },
      detail: 'delivered by sandbox as abc',
    });
  });

  it('fails a permanent refusal at once', () => {
    const { outcome } = sut.settle(claim(1), { kind: 'permanent', reason: 'bad sender' }, 'p', now);
    expect(outcome).toEqual({ status: MessageStatus.Failed, provider: 'p', error: 'bad sender' });
  });

  it('schedules a retryable outcome after the backoff delay', () => {
    random.mockReturnValue(0.5);
    const { outcome } = sut.settle(claim(2), { kind: 'retry', reason: '503' }, 'p', now);
    expect(outcome).toEqual({
      status: MessageStatus.Retrying,
      provider: 'p',
      nextAttemptAt: now + 1000,
      error: '503',
    });
  });

  it('fails a message whose last allowed attempt was retryable', () => {
    const settlement = sut.settle(claim(5), { kind: 'retry', reason: '503' }, 'p', now);
    expect(settlement.outcome.status).toBe(MessageStatus.Failed);
    expect(settlement.detail).toBe('gave up after 5 attempts: 503');
  });

  it('expires a message whose next attempt would come after its maximum age', () => {
    random.mockReturnValue(1);
    const settlement = sut.settle(claim(3, now + 2000), { kind: 'retry', reason: '503' }, 'p', now);
    expect(settlement.outcome.status).toBe(MessageStatus.Expired);
  });
});
