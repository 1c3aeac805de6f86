/** Why an address is suppressed. */
export enum SuppressionReason {
  HardBounce = 'hard_bounce',
  Complaint = 'complaint',
  Unsubscribe = 'unsubscribe',
  Manual = 'manual',
  SoftBounces = 'soft_bounces',
  Provider = 'provider',
}

/** The scope of an entry that applies to every source. */
export const ALL_SOURCES = '*';

/** An address the gateway does not send to, for every source ("*") or one. */
export interface Suppression {
  /** Lowercased. */
  readonly address: string;
  /** ALL_SOURCES or a source name. */
  readonly scope: string;
  readonly reason: SuppressionReason;
  /** What caused it: "provider:event-id (message id)" for feedback, a note for a manual entry. */
  readonly origin: string;
  readonly createdAt: number;
  /** When it lapses by itself (epoch ms); null: never. */
  readonly expiresAt: number | null;
}

export type NewSuppression = Omit<Suppression, 'createdAt'>;
