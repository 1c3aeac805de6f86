import { SuppressionReason } from './suppression';

/**
 * How strongly a reason keeps an address off the list: an entry is only ever replaced by a
 * stronger one. What the recipient said (complaint, unsubscribe) outranks what a server said.
 */
export const REASON_STRENGTH: Record<SuppressionReason, number> = {
  [SuppressionReason.Complaint]: 3,
  [SuppressionReason.Unsubscribe]: 2,
  [SuppressionReason.HardBounce]: 1,
  [SuppressionReason.SoftBounces]: 0,
  [SuppressionReason.Provider]: 0,
  [SuppressionReason.Manual]: 0,
};

/** The reasons only a forced removal with a reason may lift: the recipient asked not to get mail. */
export const RECIPIENT_REASONS: ReadonlySet<SuppressionReason> = new Set([
  SuppressionReason.Complaint,
  SuppressionReason.Unsubscribe,
]);

/** REASON_STRENGTH as an SQL expression over `column` (the values are constants, not input). */
export function reasonStrengthSql(column: string): string {
  const cases = Object.entries(REASON_STRENGTH)
    .filter(([, strength]) => strength > 0)
    .map(([reason, strength]) => `WHEN '${reason}' THEN ${strength}`);
  return `CASE ${column} ${cases.join(' ')} ELSE 0 END`;
}
