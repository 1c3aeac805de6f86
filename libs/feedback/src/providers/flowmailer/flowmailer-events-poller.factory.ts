import type { TransactionRunner } from '@mailgateway/database';
import type { FlowmailerConfig, UpstreamRegistry } from '@mailgateway/delivery';
import { FlowmailerEventApi } from './flowmailer-event-api';
import { FlowmailerEventsPoller } from './flowmailer-events-poller';
import type { FlowmailerEventsConfig } from './flowmailer-events.settings';

/**
 * The poller of the flowmailer driver's account, or null when there is nothing to poll: the
 * driver is not configured (no account or client credentials) or FLOWMAILER_EVENTS_POLL_MS is 0.
 */
export function flowmailerEventsPoller(
  events: FlowmailerEventsConfig,
  driver: FlowmailerConfig,
  registry: UpstreamRegistry,
  transactions: TransactionRunner,
): FlowmailerEventsPoller | null {
  const { accountId, clientId, clientSecret } = driver;
  if (events.pollMs === 0 || !accountId || !clientId || !clientSecret) return null;
  const api = new FlowmailerEventApi({ ...driver, accountId, clientId, clientSecret }, registry);
  return new FlowmailerEventsPoller(
    { feed: `flowmailer:${accountId}`, pollMs: events.pollMs, pageSize: events.pageSize },
    api,
    transactions,
  );
}
