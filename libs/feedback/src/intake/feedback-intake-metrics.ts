import { Counter } from 'prom-client';
import type { GatewayMetrics } from '@mailgateway/observability';
import type { RefusalReason } from './webhook-provider';

/** The listener's counters, in the gateway's registry. Labelled by configured provider only. */
export class FeedbackIntakeMetrics {
  readonly received: Counter<'provider'>;
  readonly verified: Counter<'provider'>;
  readonly refused: Counter<'provider' | 'reason'>;
  readonly stored: Counter<'provider' | 'outcome'>;
  readonly storeFailures: Counter<'provider'>;

  constructor(metrics: GatewayMetrics) {
    const registers = [metrics.registry];
    this.received = new Counter({
      name: 'mailgateway_feedback_requests_received_total',
      help: "Webhook requests to a configured provider's endpoint, by provider.",
      labelNames: ['provider'],
      registers,
    });
    this.verified = new Counter({
      name: 'mailgateway_feedback_requests_verified_total',
      help: 'Webhook requests whose signature or credentials held and whose body was understood, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.refused = new Counter({
      name: 'mailgateway_feedback_requests_refused_total',
      help: 'Webhook requests refused (nothing stored), by provider and reason (unauthenticated, stale, malformed, too-large, ...).',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.stored = new Counter({
      name: 'mailgateway_feedback_notifications_stored_total',
      help: 'Notifications from verified requests, by provider and outcome: new (stored) or duplicate (stored before: a retry).',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.storeFailures = new Counter({
      name: 'mailgateway_feedback_store_failures_total',
      help: 'Verified requests answered 503 because storing them failed (the provider retries), by provider.',
      labelNames: ['provider'],
      registers,
    });
  }

  recordRefusal(provider: string, reason: RefusalReason): void {
    this.refused.inc({ provider, reason });
  }
}
