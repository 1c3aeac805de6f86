import type { UpstreamConfig } from '../upstream.settings';
import { WAITING_MARK_MS } from './fleet-connection-slots';
import type { FleetTimings } from './upstream-budget-store.interface';

/** The store timings the settings imply: shares rotate as connections are retired. */
export function fleetTimings(config: UpstreamConfig): FleetTimings {
  return {
    heartbeatTtlMs: config.budget.heartbeatTtlMs,
    rotationMs: config.connectionTtlMs,
    wantingMs: WAITING_MARK_MS,
  };
}
