import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BuildInfo, buildInfo } from '../build-info';

/** Active messages by status, and how long the oldest due message has been waiting. */
export interface OutboxDepth {
  readonly byStatus: Readonly<Record<string, number>>;
  readonly oldestDueAgeSeconds: number;
}

export type OutboxDepthReader = () => Promise<OutboxDepth>;

export type UpstreamOutcome = 'success' | 'http_error' | 'timeout' | 'connect_error' | 'error';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELIVERY_LATENCY_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600, 14400, 86400];

/**
 * Every metric the gateway exports, in one registry of its own (so two gateways in one test
 * process do not share counters). Names and units follow the Prometheus conventions: `_total` for
 * counters, base units (`_seconds`) for durations.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private outboxDepthReader: OutboxDepthReader | null = null;
  private suppressionFilterReader: (() => boolean) | null = null;

  readonly grpcCalls = new Counter({
    name: 'mailgateway_grpc_calls_total',
    help: 'gRPC calls answered, by method and status code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  readonly acceptDuration = new Histogram({
    name: 'mailgateway_accept_duration_seconds',
    help: 'Time from receiving SendMail/SendMailBatch to answering OK (the commit included).',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly messagesAccepted = new Counter({
    name: 'mailgateway_messages_accepted_total',
    help: 'Messages committed to the outbox (idempotent replays not counted), by source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly messagesDelivered = new Counter({
    name: 'mailgateway_messages_delivered_total',
    help: 'Messages the provider accepted, by source and provider.',
    labelNames: ['source', 'provider'] as const,
    registers: [this.registry],
  });

  readonly messagesFailed = new Counter({
    name: 'mailgateway_messages_failed_total',
    help: 'Messages that failed for good (permanent refusal or attempts exhausted), by source and provider.',
    labelNames: ['source', 'provider'] as const,
    registers: [this.registry],
  });

  readonly messagesExpired = new Counter({
    name: 'mailgateway_messages_expired_total',
    help: 'Messages not delivered within MESSAGE_MAX_AGE_MS, by source and provider ("none" if never sent).',
    labelNames: ['source', 'provider'] as const,
    registers: [this.registry],
  });

  readonly suppressedRecipients = new Counter({
    name: 'mailgateway_suppressed_recipients_total',
    help: 'Recipients left out because they are on the suppression list, by source and stage (accept, claim).',
    labelNames: ['source', 'stage'] as const,
    registers: [this.registry],
  });

  readonly deliveryAttempts = new Counter({
    name: 'mailgateway_delivery_attempts_total',
    help: 'Delivery attempts, by provider and the state they left the message in.',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly deliveryRetries = new Counter({
    name: 'mailgateway_delivery_retries_total',
    help: 'Retries scheduled after a retryable outcome, by provider.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly deliveryAttemptDuration = new Histogram({
    name: 'mailgateway_delivery_attempt_duration_seconds',
    help: 'Duration of one delivery attempt (the provider call), by provider.',
    labelNames: ['provider'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly deliveryLatency = new Histogram({
    name: 'mailgateway_delivery_latency_seconds',
    help: 'Time from acceptance to delivery of a message, retries included, by provider.',
    labelNames: ['provider'] as const,
    buckets: DELIVERY_LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: 'mailgateway_upstream_requests_total',
    help: 'HTTP requests to the upstream provider, by upstream IP address and outcome.',
    labelNames: ['address', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamFailovers = new Counter({
    name: 'mailgateway_upstream_failovers_total',
    help: 'Requests moved to another upstream address after this one failed.',
    labelNames: ['from_address'] as const,
    registers: [this.registry],
  });

  readonly retentionRowsShredded = new Counter({
    name: 'mailgateway_retention_rows_shredded_total',
    help: 'Rows whose content retention destroyed (payload and data key), by table.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  readonly retentionRowsPurged = new Counter({
    name: 'mailgateway_retention_rows_purged_total',
    help: 'Rows retention deleted, by table (outbox_message, message_event, provider_notification, suppression_entry).',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  readonly retentionOldestFinalAge = new Gauge({
    name: 'mailgateway_retention_oldest_final_message_age_seconds',
    help: 'How long ago the oldest final message still kept became final, as of the last retention round (0: none kept). Past the history retention, purging falls behind.',
    registers: [this.registry],
  });

  readonly retentionRoundFailures = new Counter({
    name: 'mailgateway_retention_round_failures_total',
    help: "Retention rounds, or one source's or table's part of a round, that stopped on an error (logged with an error id; the round goes on with the next source, the next round tries again).",
    registers: [this.registry],
  });

  readonly retentionUnreadablePayloads = new Counter({
    name: 'mailgateway_retention_unreadable_payloads_total',
    help: 'Messages stored before recipients were kept apart whose payload could not be read when retention shredded them: shredded with no recipients kept (GetMessage lists none, feedback matches none).',
    registers: [this.registry],
  });

  readonly upstreamAddressHealthy = new Gauge({
    name: 'mailgateway_upstream_address_healthy',
    help: '1 while an upstream IP address is considered healthy, 0 while it is avoided.',
    labelNames: ['address'] as const,
    registers: [this.registry],
  });

  readonly upstreamConnections = new Gauge({
    name: 'mailgateway_upstream_connections',
    help: 'Connections this replica holds to an upstream host, within its share of the fleet budget.',
    labelNames: ['host'] as const,
    registers: [this.registry],
  });

  readonly upstreamConnectionShare = new Gauge({
    name: 'mailgateway_upstream_connection_share',
    help: "This replica's fair share of an upstream host's fleet-wide connection budget, as the budget store last said.",
    labelNames: ['host'] as const,
    registers: [this.registry],
  });

  readonly upstreamFleetReplicas = new Gauge({
    name: 'mailgateway_upstream_fleet_replicas',
    help: "Live replicas sharing an upstream host's budget, as the budget store last said.",
    labelNames: ['host'] as const,
    registers: [this.registry],
  });

  readonly upstreamBudgetWait = new Histogram({
    name: 'mailgateway_upstream_budget_wait_seconds',
    help: "Waits for a connection slot or a send slot (message rate) within an upstream host's fleet budget, by host and kind.",
    labelNames: ['host', 'kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly upstreamBudgetStoreReachable = new Gauge({
    name: 'mailgateway_upstream_budget_store_reachable',
    help: '1 while the store of upstream budgets (redis, database, process) answers, 0 while this replica keeps to its last known share.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly throttledCalls = new Counter({
    name: 'mailgateway_throttled_calls_total',
    help: 'Calls refused with RESOURCE_EXHAUSTED by a rate limit, by source and limit.',
    labelNames: ['source', 'limit'] as const,
    registers: [this.registry],
  });

  readonly outboxMessages = new Gauge({
    name: 'mailgateway_outbox_messages',
    help: 'Messages in the outbox that are not final yet, by status (queued, sending, retrying).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly outboxOldestDueAge = new Gauge({
    name: 'mailgateway_outbox_oldest_due_age_seconds',
    help: 'How long the oldest due message has been waiting for an attempt (0 when none is due).',
    registers: [this.registry],
  });

  readonly feedStreams = new Gauge({
    name: 'mailgateway_feed_streams',
    help: 'StreamEvents streams open on this process.',
    registers: [this.registry],
  });

  readonly feedEventsSent = new Counter({
    name: 'mailgateway_feed_events_sent_total',
    help: 'Events handed to feed readers, by RPC (ListEvents, StreamEvents).',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  // Provider feedback processing: what providers reported about recipients, counted once each.
  readonly recipientBounces = new Counter({
    name: 'mailgateway_recipient_bounces_total',
    help: 'Bounces providers reported that changed a recipient, by source, provider and class (hard, soft, undetermined).',
    labelNames: ['source', 'provider', 'class'] as const,
    registers: [this.registry],
  });

  readonly recipientComplaints = new Counter({
    name: 'mailgateway_recipient_complaints_total',
    help: 'Spam complaints providers reported that changed a recipient, by source and provider.',
    labelNames: ['source', 'provider'] as const,
    registers: [this.registry],
  });

  /** Read at each scrape from setSuppressionFilterReader (0 until one is set). */
  readonly suppressionFilterReady = new Gauge({
    name: 'mailgateway_suppression_filter_ready',
    help: '1 while SendMail looks up only the recipients the suppression filter may hold; 0 while it looks every recipient up (before the first SendMail, while the filter is built, while its LISTEN connection is down).',
    registers: [this.registry],
    collect: () => {
      if (this.suppressionFilterReader)
        this.suppressionFilterReady.set(this.suppressionFilterReader() ? 1 : 0);
    },
  });

  readonly suppressionsAdded = new Counter({
    name: 'mailgateway_suppressions_added_total',
    help: 'Suppression list entries added or strengthened by provider feedback, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly feedbackUnmatched = new Counter({
    name: 'mailgateway_feedback_unmatched_total',
    help: 'Provider notifications given up as unmatched (no message, or an address the message was not sent to), by provider.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly buildInfo = new Gauge({
    name: 'mailgateway_build_info',
    help: 'Always 1: the version (package.json) and git commit of the running build.',
    labelNames: ['version', 'commit'] as const,
    registers: [this.registry],
  });

  constructor(build: BuildInfo = buildInfo()) {
    collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: build.version, commit: build.commit }, 1);
  }

  /** Where the outbox gauges read from at scrape time. */
  setOutboxDepthReader(reader: OutboxDepthReader): void {
    this.outboxDepthReader = reader;
  }

  /** Where mailgateway_suppression_filter_ready reads from at scrape time. */
  setSuppressionFilterReader(reader: () => boolean): void {
    this.suppressionFilterReader = reader;
  }

  /** For the upstream HTTP client: one request to one address ended. */
  recordUpstreamRequest(address: string, outcome: UpstreamOutcome): void {
    this.upstreamRequests.inc({ address, outcome });
  }

  /** For the upstream HTTP client: a request left `fromAddress` for another address. */
  recordUpstreamFailover(fromAddress: string): void {
    this.upstreamFailovers.inc({ from_address: fromAddress });
  }

  /** For the upstream HTTP client: an address became healthy or was taken out of rotation. */
  recordUpstreamAddressHealth(address: string, healthy: boolean): void {
    this.upstreamAddressHealthy.set({ address }, healthy ? 1 : 0);
  }

  /** For the upstream budget: connections this replica holds to `host` now. */
  recordUpstreamConnections(host: string, held: number): void {
    this.upstreamConnections.set({ host }, held);
  }

  /** For the upstream budget: this replica's share of `host`'s budget and the replicas sharing it. */
  recordUpstreamShare(host: string, share: number, replicas: number): void {
    this.upstreamConnectionShare.set({ host }, share);
    this.upstreamFleetReplicas.set({ host }, replicas);
  }

  /** For the upstream budget: a caller waited `seconds` for a connection or a send slot. */
  recordUpstreamBudgetWait(host: string, kind: 'connection' | 'permit', seconds: number): void {
    this.upstreamBudgetWait.observe({ host, kind }, seconds);
  }

  /** For the upstream budget: whether its store answers. */
  recordUpstreamBudgetStore(store: string, reachable: boolean): void {
    this.upstreamBudgetStoreReachable.set({ store }, reachable ? 1 : 0);
  }

  /** For the throttling guard: a call was refused by `limit` (e.g. "source", "global"). */
  recordThrottledCall(source: string, limit: string): void {
    this.throttledCalls.inc({ source, limit });
  }

  /** The exposition text; the outbox gauges are read now, with one query. */
  async render(): Promise<string> {
    await this.refreshOutboxDepth();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async refreshOutboxDepth(): Promise<void> {
    if (!this.outboxDepthReader) return;
    this.outboxMessages.reset();
    this.outboxOldestDueAge.reset();
    try {
      const depth = await this.outboxDepthReader();
      for (const [status, count] of Object.entries(depth.byStatus))
        this.outboxMessages.set({ status }, count);
      this.outboxOldestDueAge.set(depth.oldestDueAgeSeconds);
    } catch {
      // The scrape still answers while the database is down: the gauges go absent, readiness says why.
    }
  }
}
