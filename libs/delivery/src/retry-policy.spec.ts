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
    sparedAttempts: 0,
    leaseToken: attempt,
    leasedUntil: now + 60_000,
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

  it('records the recipients refused beside an acceptance, each with the provider answer', () => {
    const refusedRecipients = [
      { address: 'gone@example.com', reason: '550 5.1.1 user unknown', permanent: true },
      { address: 'full@example.com', reason: '452 4.2.2 mailbox full', permanent: false },
    ];
    const accepted = { kind: 'accepted' as const, providerMessageId: 'q1', refusedRecipients };
    expect(sut.settle(claim(1), accepted, 'smtp', now)).toEqual({
      outcome: {
        status: MessageStatus.Delivered,
        provider: 'smtp',
        providerMessageId: 'q1',
        refusedRecipients: [
          { address: 'gone@example.com', detail: 'refused by smtp: 550 5.1.1 user unknown' },
          {
            address: 'full@example.com',
            detail: 'refused by smtp for now, and not retried: 452 4.2.2 mailbox full',
          },
        ],
      },
      detail: 'delivered by smtp as q1; 2 recipients refused',
    });
  });

  it('does not count attempts spared by the driver toward the maximum', () => {
    random.mockReturnValue(0);
    const authRefused = { kind: 'retry' as const, reason: '535 auth failed', sparesAttempt: true };
    // Attempt 7 of a 5-attempt budget, with 3 spared before and this one spared: 3 counted.
    const spared = { ...claim(7), sparedAttempts: 3 };
    expect(sut.settle(spared, authRefused, 'smtp', now).outcome).toMatchObject({
      status: MessageStatus.Retrying,
      sparesAttempt: true,
    });
    // The same attempt failing for the message's own sake counts: 4 counted, still under 5.
    const ownFault = { kind: 'retry' as const, reason: '451 try later' };
    expect(sut.settle(spared, ownFault, 'smtp', now).outcome.status).toBe(MessageStatus.Retrying);
    // One more counted attempt reaches the maximum.
    expect(sut.settle({ ...claim(8), sparedAttempts: 3 }, ownFault, 'smtp', now)).toMatchObject({
      outcome: { status: MessageStatus.Failed },
      detail: 'gave up after 5 attempts: 451 try later',
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
