import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { AttemptOutcome, ClaimedMessage, MessageStatus } from '@mailgateway/outbox';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import type { DeliveryOutcome } from './drivers/mail-driver.interface';

export interface Settlement {
  readonly outcome: AttemptOutcome;
  /** For the event history: what happened, in words. */
  readonly detail: string;
}

/** Turns a driver's answer into the message's next state: exponential backoff with full jitter. */
@Injectable()
export class RetryPolicy {
  constructor(@InjectConfig(deliveryConfig) private readonly config: DeliveryConfig) {}

  settle(claim: ClaimedMessage, result: DeliveryOutcome, provider: string, now: number): Settlement {
    switch (result.kind) {
      case 'accepted': {
        const refused = result.refusedRecipients ?? [];
        const delivered = `delivered by ${provider}${result.providerMessageId ? ` as ${result.providerMessageId}` : ''}`;
        return {
          outcome: {
            status: MessageStatus.Delivered,
            provider,
            providerMessageId: result.providerMessageId ?? null,
            ...(refused.length > 0 && {
              refusedRecipients: refused.map(({ address, reason, permanent }) => ({
                address,
                detail: `refused by ${provider}${permanent ? '' : ' for now, and not retried'}: ${reason}`,
              })),
            }),
          },
          detail: refused.length > 0 ? `${delivered}; ${refused.length} recipients refused` : delivered,
        };
      }
      case 'permanent':
        return {
          outcome: { status: MessageStatus.Failed, provider, error: result.reason },
          detail: `refused by ${provider}: ${result.reason}`,
        };
      case 'retry':
        return this.scheduleRetry(claim, result, provider, now);
    }
  }

  /**
   * Full jitter (uniform in [0, ceiling]) spreads retries of many messages apart. The provider's
   * Retry-After is a floor, itself capped at RETRY_MAX_DELAY_MS: the operator's bound on any wait,
   * so a provider that asks for days cannot park mail, expire it early or keep the fallback driver
   * from its turn. An operator who wants longer waits honoured raises RETRY_MAX_DELAY_MS.
   */
  delayBeforeNextAttempt(attempt: number, retryAfterMs?: number): number {
    const { retryBaseDelayMs, retryMaxDelayMs } = this.config;
    const ceiling = Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** Math.min(attempt - 1, 30));
    const jittered = Math.round(Math.random() * ceiling);
    return Math.max(jittered, Math.min(retryAfterMs ?? 0, retryMaxDelayMs));
  }

  expire(claim: ClaimedMessage): Settlement {
    return {
      outcome: {
        status: MessageStatus.Expired,
        provider: null,
        error: 'maximum age reached before delivery',
      },
      detail: `expired: not delivered by ${new Date(claim.expiresAt).toISOString()}, MESSAGE_MAX_AGE_MS after it was due (attempt ${claim.attempt} not sent)`,
    };
  }

  private scheduleRetry(
    claim: ClaimedMessage,
    result: Extract<DeliveryOutcome, { kind: 'retry' }>,
    provider: string,
    now: number,
  ): Settlement {
    const { maxAttempts } = this.config;
    // Attempts the gateway's own configuration spoiled (the relay refused its credentials) do not
    // count: the message keeps its attempts for when an operator has fixed it, bounded by its age.
    const counted = claim.attempt - claim.sparedAttempts - (result.sparesAttempt ? 1 : 0);
    if (counted >= maxAttempts) {
      return {
        outcome: { status: MessageStatus.Failed, provider, error: result.reason },
        detail: `gave up after ${counted} attempts: ${result.reason}`,
      };
    }
    const nextAttemptAt = now + this.delayBeforeNextAttempt(claim.attempt, result.retryAfterMs);
    if (nextAttemptAt >= claim.expiresAt) {
      return {
        outcome: { status: MessageStatus.Expired, provider, error: result.reason },
        detail: `expired: the next attempt would come after the maximum age; last error: ${result.reason}`,
      };
    }
    return {
      outcome: {
        status: MessageStatus.Retrying,
        provider,
        nextAttemptAt,
        error: result.reason,
        outcomeUnknown: result.outcomeUnknown,
        sparesAttempt: result.sparesAttempt,
      },
      detail: `${result.reason}; retry at ${new Date(nextAttemptAt).toISOString()}${result.sparesAttempt ? ' (not counted as an attempt)' : ''}`,
    };
  }
}
