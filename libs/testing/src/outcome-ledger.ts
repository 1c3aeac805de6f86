import { ServiceError, status } from '@grpc/grpc-js';

/** How one call ended, as its caller saw it. */
export type CallOutcome =
  | { readonly kind: 'ok'; readonly messageId: string }
  /** The gateway answered with a refusal: nothing was committed. */
  | { readonly kind: 'failed'; readonly code: string }
  /** No answer (deadline, dropped connection): the message may or may not be committed. */
  | { readonly kind: 'unknown'; readonly code: string };

export interface LedgerFigures {
  readonly calls: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  /** Keys that got at least one OK. */
  readonly acknowledged: number;
  /** Deliveries the upstream received, and how many distinct messages they were. */
  readonly deliveries: number;
  readonly delivered: number;
  /** Acknowledged but never delivered. */
  readonly lost: number;
  /** Delivered more than once. */
  readonly duplicates: number;
  /** Delivered but never acknowledged. */
  readonly unexpected: number;
}

/** Statuses the gateway itself sends with a refusal; anything else leaves the outcome open. */
const REFUSALS = new Set<status>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.RESOURCE_EXHAUSTED,
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.FAILED_PRECONDITION,
]);

/**
 * Counts outcomes the way queue testers do: every call with its idempotency key and outcome, then,
 * against what the upstream received, lost = acknowledged but never delivered, duplicates =
 * delivered more than once, unexpected = delivered but never acknowledged.
 */
export class OutcomeLedger {
  private readonly calls: { readonly key: string; readonly outcome: CallOutcome; readonly at: number }[] = [];
  private readonly acknowledgedIds = new Map<string, string>();
  private readonly conflicts: string[] = [];

  /** Classifies a call's error: a status the gateway refuses with, or an open outcome. */
  static outcomeOf(error: unknown): CallOutcome {
    const code = (error as Partial<ServiceError>)?.code;
    if (code === undefined) return { kind: 'unknown', code: String((error as Error)?.message ?? error) };
    const name = status[code] ?? String(code);
    // UNAVAILABLE is a refusal only when the gateway said so (its storage or its rate limiter is
    // unreachable, nothing was committed); a dropped connection says nothing.
    if (
      REFUSALS.has(code) ||
      (code === status.UNAVAILABLE &&
        /unavailable; retry with backoff/.test(String((error as ServiceError).details)))
    ) {
      return { kind: 'failed', code: name };
    }
    return { kind: 'unknown', code: name };
  }

  record(key: string, outcome: CallOutcome): void {
    this.calls.push({ key, outcome, at: Date.now() });
    if (outcome.kind !== 'ok') return;
    const earlier = this.acknowledgedIds.get(key);
    // Two OKs for one key must name one message; anything else is a broken idempotency promise.
    if (earlier !== undefined && earlier !== outcome.messageId) this.conflicts.push(key);
    else this.acknowledgedIds.set(key, outcome.messageId);
  }

  /** Records the outcome of `call` under `key` and passes its result or error on. */
  async track<T extends { messageId: string }>(key: string, call: Promise<T>): Promise<T> {
    try {
      const response = await call;
      this.record(key, { kind: 'ok', messageId: response.messageId });
      return response;
    } catch (error) {
      this.record(key, OutcomeLedger.outcomeOf(error));
      throw error;
    }
  }

  isAcknowledged(key: string): boolean {
    return this.acknowledgedIds.has(key);
  }

  /** Idempotency key -> the message id its OK named. */
  get acknowledged(): ReadonlyMap<string, string> {
    return this.acknowledgedIds;
  }

  /** Keys that were answered OK with two different message ids (must stay empty). */
  get idempotencyConflicts(): readonly string[] {
    return this.conflicts;
  }

  /**
   * Counts of calls per outcome and status, e.g. { ok: 10, 'failed UNAVAILABLE': 2 }, of the calls
   * that ended between `from` and `to` (epoch ms) when given.
   */
  outcomeCounts(from = -Infinity, to = Infinity): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { outcome, at } of this.calls) {
      if (at < from || at > to) continue;
      const label = outcome.kind === 'ok' ? 'ok' : `${outcome.kind} ${outcome.code}`;
      counts[label] = (counts[label] ?? 0) + 1;
    }
    return counts;
  }

  /** The figures, given the message id of every delivery the upstream received (repeats included). */
  figures(deliveredMessageIds: Iterable<string>): LedgerFigures {
    const deliveries = new Map<string, number>();
    let total = 0;
    for (const id of deliveredMessageIds) {
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      total++;
    }
    const acknowledgedIds = new Set(this.acknowledgedIds.values());
    const count = (kind: CallOutcome['kind']) =>
      this.calls.filter((call) => call.outcome.kind === kind).length;
    return {
      calls: this.calls.length,
      ok: count('ok'),
      failed: count('failed'),
      unknown: count('unknown'),
      acknowledged: this.acknowledgedIds.size,
      deliveries: total,
      delivered: deliveries.size,
      lost: [...acknowledgedIds].filter((id) => !deliveries.has(id)).length,
      duplicates: [...deliveries.values()].filter((times) => times > 1).length,
      unexpected: [...deliveries.keys()].filter((id) => !acknowledgedIds.has(id)).length,
    };
  }
}

/** One line per scenario: its name, the ledger's figures, then anything the scenario adds. */
export function formatFigures(
  scenario: string,
  figures: LedgerFigures,
  extra: Readonly<Record<string, string | number>> = {},
): string {
  const fields = { ...figures, ...extra };
  return `[reliability ${scenario}] ${Object.entries(fields)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ')}`;
}
