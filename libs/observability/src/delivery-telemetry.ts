import type { GatewayLogger } from './logging/gateway-logger';
import type { GatewayMetrics } from './metrics/gateway-metrics';
import { scrubProviderText, scrubSecrets } from './logging/redaction';

export interface AttemptReport {
  readonly messageId: string;
  readonly source: string;
  readonly attempt: number;
  /** The driver's name, or null when the message expired before it was sent. */
  readonly provider: string | null;
  /** The message's state after the attempt: delivered, retrying, failed, expired... */
  readonly outcome: string;
  /** The outcome in words (provider status, error); a provider's own text is left out of the log. */
  readonly detail: string;
  readonly durationMs: number;
  readonly acceptedAt: number;
  /** False when a newer claim owned the message and this outcome was dropped. */
  readonly recorded: boolean;
}

const MAX_DETAIL = 300;

/** One log line and the delivery metrics per attempt. */
export class DeliveryTelemetry {
  private readonly logger: GatewayLogger;

  constructor(
    private readonly metrics: GatewayMetrics,
    logger: GatewayLogger,
  ) {
    this.logger = logger.child({ context: 'Delivery' });
  }

  attemptFinished(report: AttemptReport, now = Date.now()): void {
    const provider = report.provider ?? 'none';
    const labels = { source: report.source, provider };
    this.metrics.deliveryAttempts.inc({ provider, outcome: report.outcome });
    if (report.provider) this.metrics.deliveryAttemptDuration.observe({ provider }, report.durationMs / 1000);
    // A dropped outcome is not the message's fate: the newer attempt reports that.
    if (report.recorded) {
      if (report.outcome === 'delivered') {
        this.metrics.messagesDelivered.inc(labels);
        this.metrics.deliveryLatency.observe({ provider }, (now - report.acceptedAt) / 1000);
      } else if (report.outcome === 'failed') this.metrics.messagesFailed.inc(labels);
      else if (report.outcome === 'expired') this.metrics.messagesExpired.inc(labels);
      else if (report.outcome === 'retrying') this.metrics.deliveryRetries.inc({ provider });
    }
    const detail = scrubProviderText(scrubSecrets(report.detail));
    this.logger[report.outcome === 'failed' ? 'warn' : 'info'](
      {
        messageId: report.messageId,
        source: report.source,
        attempt: report.attempt,
        provider,
        outcome: report.outcome,
        durationMs: Math.round(report.durationMs * 100) / 100,
        recorded: report.recorded,
        detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail,
      },
      'delivery attempt',
    );
  }
}
