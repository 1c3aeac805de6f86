import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { GatewayLogger } from './logging/gateway-logger';
import type { GatewayMetrics } from './metrics/gateway-metrics';
import { scrubProviderText, scrubSecrets } from './logging/redaction';
import type { Tracing } from './tracing/tracing';

/** The attempt a delivery span is for. */
export interface AttemptStart {
  readonly messageId: string;
  readonly source: string;
  readonly attempt: number;
  /** The accepting call's W3C traceparent, stored with the message; null if it was not traced. */
  readonly traceparent: string | null;
}

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

/** One span, one log line and the delivery metrics per attempt. */
export class DeliveryTelemetry {
  private readonly logger: GatewayLogger;
  /** The span of each attempt in progress, by message (one attempt per message at a time here). */
  private readonly spans = new Map<string, Span>();

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly tracing: Tracing,
    logger: GatewayLogger,
  ) {
    this.logger = logger.child({ context: 'Delivery' });
  }

  /**
   * Runs one attempt in its span, in the trace of the call that accepted the message: the
   * provider request and the outbox queries made inside are the span's children.
   */
  async traced<T>(attempt: AttemptStart, work: () => Promise<T>): Promise<T> {
    const traced = this.tracing.startDeliverySpan(attempt.traceparent, {
      'mailgateway.message.id': attempt.messageId,
      'mailgateway.source': attempt.source,
      'mailgateway.delivery.attempt': attempt.attempt,
    });
    if (!traced) return work();
    this.spans.set(attempt.messageId, traced.span);
    try {
      return await this.tracing.with(traced.context, work);
    } catch (error) {
      traced.span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.name ?? 'error' });
      throw error;
    } finally {
      this.spans.delete(attempt.messageId);
      traced.span.end();
    }
  }

  attemptFinished(report: AttemptReport, now = Date.now()): void {
    const span = this.spans.get(report.messageId);
    span?.setAttributes({
      'mailgateway.delivery.provider': report.provider ?? 'none',
      'mailgateway.delivery.outcome': report.outcome,
      'mailgateway.delivery.recorded': report.recorded,
    });
    if (report.outcome === 'failed') span?.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
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
