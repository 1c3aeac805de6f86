import type { RetentionConfig } from './retention.settings';

/** One source's own retention, from its policy; null fields take the gateway's setting. */
export interface SourceRetentionOverride {
  readonly source: string;
  readonly bodyRetentionMs: number | null;
  readonly historyRetentionMs: number | null;
}

/** What the retention loop asks for every source: provided by the app (from the sources' policies). */
export interface SourceRetentionPolicies {
  /** Every source there is, with its overrides (none: both null). */
  list(): Promise<SourceRetentionOverride[]>;
}

export const SOURCE_RETENTION_POLICIES = Symbol('source retention policies');

/** A source's retention in force. */
export interface SourceRetention {
  readonly source: string;
  readonly bodyRetentionMs: number;
  readonly historyRetentionMs: number;
}

/**
 * The override wins where it is set. Content never outlives its message: a body retention longer
 * than the history in force (an override of one against the gateway's other) is cut to it.
 */
export function retentionInForce(
  override: SourceRetentionOverride,
  config: RetentionConfig,
): SourceRetention {
  const historyRetentionMs = override.historyRetentionMs ?? config.historyRetentionMs;
  const bodyRetentionMs = Math.min(override.bodyRetentionMs ?? config.bodyRetentionMs, historyRetentionMs);
  return { source: override.source, bodyRetentionMs, historyRetentionMs };
}
