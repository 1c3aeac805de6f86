import type { Principal } from '@mailgateway/auth';
import { integer, setting, Setting } from '@mailgateway/config';

/**
 * One message limit: whose counter a call adds to, and how many messages that counter allows
 * per window. A new limit is one more entry in RATE_LIMIT_POLICIES; its setting, its counters,
 * its name in refusals and metrics, and the exemption of reads all follow from the entry.
 */
export interface RateLimitPolicy {
  /** Named in RESOURCE_EXHAUSTED messages, metrics and counter keys. */
  readonly name: string;
  /** The variable holding the default limit, and how it is read and documented. */
  readonly variable: string;
  readonly setting: Setting<number>;
  /** The counter a call of this principal adds to. */
  tracker(principal: Principal): string;
  /** Messages per window for this principal; `configured` is the variable's value. */
  limit(principal: Principal, configured: number): number;
}

export const RATE_LIMIT_POLICIES: readonly RateLimitPolicy[] = [
  {
    name: 'source',
    variable: 'RATE_LIMIT_SOURCE_MESSAGES',
    setting: setting({
      description:
        'Messages one source may submit per window (a batch counts as its number of items); a source policy may set its own.',
      schema: integer(1, 100_000_000).default(60_000),
    }),
    tracker: (principal) => principal.source,
    limit: (principal, configured) => principal.policy.rateLimitMessages ?? configured,
  },
  {
    name: 'global',
    variable: 'RATE_LIMIT_GLOBAL_MESSAGES',
    setting: setting({
      description: 'Messages all sources together may submit per window.',
      schema: integer(1, 1_000_000_000).default(600_000),
    }),
    tracker: () => 'all',
    limit: (_principal, configured) => configured,
  },
];
