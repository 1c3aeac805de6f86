import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';
import { MAIL_DRIVERS } from './drivers/mail-drivers';
import { upstreamConfig } from './upstream/upstream.settings';

export interface DeliveryConfig {
  readonly enabled: boolean;
  readonly driver: string;
  readonly concurrency: number;
  /** Most messages one claim takes, and most claimed messages waiting for a slot. */
  readonly claimBatch: number;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly maxAttempts: number;
  readonly fallbackDriver?: string;
  readonly fallbackAfterFailures: number;
  /** Drivers started besides MAIL_DRIVER and FALLBACK_MAIL_DRIVER, for sources' own chains. */
  readonly extraDrivers: readonly string[];
}

export const deliveryConfig = defineConfig({
  name: 'delivery',
  settings: {
    MAIL_DRIVER: setting({
      description:
        'Provider driver that delivers messages. "sandbox" records messages instead of sending them.',
      schema: z.string().min(1).default('sandbox'),
    }),
    DELIVERY_ENABLED: setting({
      description: 'Run the delivery loop in this process.',
      schema: boolean.default(true),
    }),
    DELIVERY_CONCURRENCY: setting({
      description: 'Deliveries in flight at once in this process.',
      schema: integer(1, 1000).default(10),
    }),
    DELIVERY_CLAIM_BATCH: setting({
      description:
        'Most messages one claim takes, and most this process holds claimed while they wait for a free delivery slot; by default 4 × DELIVERY_CONCURRENCY, at most 500 (or DELIVERY_CONCURRENCY if larger). Fewer wait while deliveries are slow: about what this process starts in a quarter of DELIVERY_LEASE_MS. A claimed message is sent only while at least half its lease is left, otherwise handed back unsent.',
      schema: integer(1, 5_000).optional(),
    }),
    DELIVERY_POLL_INTERVAL_MS: setting({
      description: 'Pause between outbox polls when nothing is due.',
      schema: integer(10, 60_000).default(250),
    }),
    DELIVERY_LEASE_MS: setting({
      description:
        'How long a claimed message belongs to one delivery attempt; after that any process may claim it again.',
      schema: integer(1_000, 3_600_000).default(60_000),
    }),
    RETRY_BASE_DELAY_MS: setting({
      description: 'First retry delay; each retry doubles it (with full jitter) up to RETRY_MAX_DELAY_MS.',
      schema: integer(1, 3_600_000).default(1_000),
    }),
    RETRY_MAX_DELAY_MS: setting({
      description:
        "Longest delay between two attempts, a provider's Retry-After included (a longer Retry-After is cut to this).",
      schema: integer(1, 86_400_000).default(600_000),
    }),
    DELIVERY_MAX_ATTEMPTS: setting({
      description: 'Attempts before a message that keeps failing is marked failed.',
      schema: integer(1, 1000).default(25),
    }),
    FALLBACK_MAIL_DRIVER: setting({
      description: 'Optional secondary driver: a message that keeps failing with the first one moves to it.',
      schema: z.string().min(1).optional(),
    }),
    FALLBACK_AFTER_FAILURES: setting({
      description:
        "Retryable failures with one driver before a message moves to the next: from MAIL_DRIVER to FALLBACK_MAIL_DRIVER, or along a source's own chain (its policy's drivers).",
      schema: integer(1, 1000).default(3),
    }),
    EXTRA_MAIL_DRIVERS: setting({
      description:
        'More drivers to start, comma-separated (e.g. "postmark,smtp"), so that sources\' policies can route to them; each needs its own settings. MAIL_DRIVER and FALLBACK_MAIL_DRIVER always start.',
      schema: z
        .string()
        .regex(/^[a-z0-9-]+(,[a-z0-9-]+)*$/, 'must be driver names separated by commas')
        .optional(),
    }),
  },
  build: (values): DeliveryConfig => ({
    enabled: values.DELIVERY_ENABLED,
    driver: values.MAIL_DRIVER,
    concurrency: values.DELIVERY_CONCURRENCY,
    claimBatch:
      values.DELIVERY_CLAIM_BATCH ??
      Math.max(values.DELIVERY_CONCURRENCY, Math.min(4 * values.DELIVERY_CONCURRENCY, 500)),
    pollIntervalMs: values.DELIVERY_POLL_INTERVAL_MS,
    leaseMs: values.DELIVERY_LEASE_MS,
    retryBaseDelayMs: values.RETRY_BASE_DELAY_MS,
    retryMaxDelayMs: values.RETRY_MAX_DELAY_MS,
    maxAttempts: values.DELIVERY_MAX_ATTEMPTS,
    fallbackDriver: values.FALLBACK_MAIL_DRIVER,
    fallbackAfterFailures: values.FALLBACK_AFTER_FAILURES,
    extraDrivers: extraDrivers(values.EXTRA_MAIL_DRIVERS),
  }),
  check: (values) => {
    const problems: string[] = [];
    const known = MAIL_DRIVERS.map(({ name }) => name);
    for (const variable of ['MAIL_DRIVER', 'FALLBACK_MAIL_DRIVER'] as const) {
      const name = values[variable];
      if (name !== undefined && !known.includes(name)) {
        problems.push(`${variable}: unknown driver "${name}" (known: ${known.join(', ')})`);
      }
    }
    for (const name of extraDrivers(values.EXTRA_MAIL_DRIVERS)) {
      if (!known.includes(name)) {
        problems.push(`EXTRA_MAIL_DRIVERS: unknown driver "${name}" (known: ${known.join(', ')})`);
      }
    }
    if (values.RETRY_BASE_DELAY_MS > values.RETRY_MAX_DELAY_MS) {
      problems.push('RETRY_BASE_DELAY_MS: must not exceed RETRY_MAX_DELAY_MS');
    }
    return problems;
  },
});

function extraDrivers(value: string | undefined): string[] {
  return value ? [...new Set(value.split(','))] : [];
}

/** The settings of delivery, the upstream transport and every driver, in the order they are documented. */
export const DELIVERY_CONFIG_SLICES = [
  deliveryConfig,
  upstreamConfig,
  ...MAIL_DRIVERS.flatMap((definition) => (definition.config ? [definition.config] : [])),
];
