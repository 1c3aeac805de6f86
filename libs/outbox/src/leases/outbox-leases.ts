import { Injectable } from '@nestjs/common';
import type { Mail } from '@mailgateway/contracts';
import { GroupCommit, runStatement, TransactionRunner } from '@mailgateway/database';
import { ContentKeyMissingException, ContentSealer } from '@mailgateway/encryption';
import type { EntityManager } from 'typeorm';
import { GatewayException } from '@mailgateway/errors';
import { insertEvents, truncate } from '../event-rows';
import { FeedSignal } from '../feed/feed-signal';
import { deserializeMail } from '../mail-payload';
import { FinalStatus, MessageEventType, MessageStatus } from '../message-status';
import { SuppressedRecipient, suppressedRecipientDetail } from '../enqueue/suppressed-recipient';
import { applyRecipientUpdates } from '../recipients/recipient-outcomes';
import { RecipientState } from '../recipients/recipient-state';
import { claimDueStatement } from './claim-due-statement';
import { fencedUpdateStatement, recordOutcomesStatement } from './outcome-statements';

/** A message claimed for one delivery attempt; leaseToken fences the attempt's outcome. */
export interface ClaimedMessage {
  readonly id: string;
  readonly source: string;
  readonly idempotencyKey: string | null;
  readonly mail: Mail;
  readonly attempt: number;
  /** Attempts so far that do not count toward the maximum (the gateway's own fault, not the message's). */
  readonly sparedAttempts: number;
  readonly leaseToken: number;
  /** When the lease runs out (epoch ms): from then on any process may claim the message again. */
  readonly leasedUntil: number;
  readonly acceptedAt: number;
  readonly expiresAt: number;
  /** W3C traceparent of the accepting call: the upstream request carries it on. */
  readonly traceparent: string | null;
}

export type AttemptOutcome = (
  | {
      readonly status: MessageStatus.Delivered;
      readonly provider: string;
      readonly providerMessageId: string | null;
      /** Recipients the provider refused while it took the message for the others. */
      readonly refusedRecipients?: readonly RecipientRefusal[];
    }
  | {
      readonly status: MessageStatus.Retrying;
      readonly provider: string;
      readonly nextAttemptAt: number;
      readonly error: string;
      /** The attempt may have reached the provider: recorded as an event of its own type. */
      readonly outcomeUnknown?: boolean;
      /** The attempt does not count toward the maximum: the fault was the gateway's own. */
      readonly sparesAttempt?: boolean;
    }
  | {
      readonly status: Exclude<FinalStatus, MessageStatus.Delivered | MessageStatus.Suppressed>;
      readonly provider: string | null;
      readonly error: string;
    }
  /** Every recipient is on the suppression list: never sent (suppressedRecipients lists them). */
  | { readonly status: MessageStatus.Suppressed; readonly provider: null }
) & {
  /** Recipients left out of this attempt because they are on the suppression list. */
  readonly suppressedRecipients?: readonly SuppressedRecipient[];
};

/** One recipient refused within an attempt that delivered the message to the others. */
export interface RecipientRefusal {
  readonly address: string;
  /** For the event history: the provider's answer, in words. */
  readonly detail: string;
}

/** The message's own event for each outcome. */
const EVENT_FOR_OUTCOME: Record<AttemptOutcome['status'], MessageEventType> = {
  [MessageStatus.Delivered]: MessageEventType.Delivered,
  [MessageStatus.Retrying]: MessageEventType.RetryScheduled,
  [MessageStatus.Failed]: MessageEventType.Failed,
  [MessageStatus.Expired]: MessageEventType.Expired,
  [MessageStatus.Cancelled]: MessageEventType.Cancelled,
  // After its RECIPIENT_SUPPRESSED events, which say why, one per recipient, as at accept.
  [MessageStatus.Suppressed]: MessageEventType.Suppressed,
};

const MAX_TRANSITION_GROUP = 500;
/**
 * Outcome groups committing side by side. Few, so that outcomes arriving during a commit share
 * the next one (a group of dozens costs about what a group of one does); two, so that one slow
 * commit does not hold every outcome behind it.
 */
const PARALLEL_TRANSITION_COMMITS = 2;
/**
 * How long a message under a key this replica's ring lacks waits before the next claim: its age
 * since accepted, between these bounds, so the wait about doubles each time (never past expires_at).
 */
const MISSING_KEY_MIN_RETRY_MS = 10_000;
const MISSING_KEY_MAX_RETRY_MS = 300_000;

/** A fenced state change of one claimed message, with the event that records it. */
interface Transition {
  readonly claim: ClaimedMessage;
  readonly status: MessageStatus;
  readonly nextAttemptAt: number | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly lastError: string | null;
  readonly eventType: MessageEventType;
  readonly detail: string;
  /** 1 when the attempt does not count toward the maximum. */
  readonly spared: 0 | 1;
  readonly refusedRecipients: readonly RecipientRefusal[];
  readonly suppressedRecipients: readonly SuppressedRecipient[];
}

interface ClaimedRow {
  id: string;
  status: MessageStatus;
  source: string;
  idempotency_key: string | null;
  payload: string;
  content_key_id: string | null;
  wrapped_data_key: string | null;
  attempts: number;
  spared_attempts: number;
  lease_token: number;
  accepted_at: string | number;
  expires_at: string | number;
  traceparent: string | null;
  last_error: string | null;
}

/**
 * The delivery path's way into the outbox. A claim leases due messages for one attempt each and
 * raises their fencing token; an outcome is recorded only while the row is still sending under
 * that token, so an attempt whose lease ran out (and was claimed again) can never overwrite the
 * newer attempt's state. No row lock is held while the message is being sent.
 */
@Injectable()
export class OutboxLeases {
  private readonly transitions: GroupCommit<Transition, boolean>;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly feedSignal: FeedSignal,
    private readonly sealer: ContentSealer,
  ) {
    this.transitions = new GroupCommit(
      (group) => this.apply(group),
      Math.min(PARALLEL_TRANSITION_COMMITS, transactions.connections),
      MAX_TRANSITION_GROUP,
      'outbox transition',
    );
  }

  /**
   * Claims up to `limit` due messages with one UPDATE ... RETURNING and commits the claim. A due
   * row with a cancel requested is one whose attempt never reported back (its lease ran out): it
   * ends CANCELLED in the same statement instead of being tried again. A claimed message whose
   * content cannot be opened (it was shredded, or altered) ends FAILED in the same transaction,
   * with the reason as its event: it would fail the same way on every attempt. One under a content
   * key this replica's ring lacks is handed back (RELEASED, the attempt not counted, one event) for
   * a replica that holds the key, until its expiry: then it ends FAILED, naming the key. Messages in
   * `excluding` (the caller's own attempts still under way past their lease) are not claimed.
   */
  async claimDue(
    limit: number,
    leaseMs: number,
    excluding: readonly string[] = [],
  ): Promise<ClaimedMessage[]> {
    const { claims, sources } = await this.transactions.run(async (manager) => {
      const now = Date.now();
      const parameters = this.transactions.parameters();
      const rows = await runStatement<ClaimedRow>(
        manager,
        claimDueStatement(parameters, this.transactions.dialect === 'postgres', {
          now,
          limit,
          leaseMs,
          excluding,
        }),
        parameters.values,
      );
      const cancelled = rows.filter((row) => row.status === MessageStatus.Cancelled);
      const claims: ClaimedMessage[] = [];
      const unreadable: { row: ClaimedRow; reason: string }[] = [];
      const deferred: { row: ClaimedRow; reason: string }[] = [];
      for (const row of rows) {
        if (row.status === MessageStatus.Cancelled) continue;
        const opened = this.open(row, now);
        if ('fail' in opened) unreadable.push({ row, reason: opened.fail });
        else if ('defer' in opened) deferred.push({ row, reason: opened.defer });
        else claims.push(opened.claim(now + leaseMs));
      }
      await this.failUnreadable(manager, unreadable, now);
      await this.defer(manager, deferred, now);
      await insertEvents(manager, this.transactions.dialect, [
        ...claims.map((claim) => ({
          messageId: claim.id,
          source: claim.source,
          type: MessageEventType.AttemptStarted,
          attempt: claim.attempt,
          detail: `attempt ${claim.attempt}`,
          occurredAt: now,
        })),
        ...cancelled.map((row) => ({
          messageId: row.id,
          source: row.source,
          type: MessageEventType.Cancelled,
          attempt: row.attempts,
          detail: `cancelled: attempt ${row.attempts}, under way at the cancel, never reported back`,
          occurredAt: now,
        })),
        ...unreadable.map(({ row, reason }) => ({
          messageId: row.id,
          source: row.source,
          type: MessageEventType.Failed,
          attempt: row.attempts,
          detail: reason,
          occurredAt: now,
        })),
        // One event when a message is first handed back, not one per claim while it waits.
        ...deferred
          .filter(({ row, reason }) => row.last_error !== reason)
          .map(({ row, reason }) => ({
            messageId: row.id,
            source: row.source,
            type: MessageEventType.Released,
            attempt: row.attempts,
            detail: reason,
            occurredAt: now,
          })),
      ]);
      return { claims, sources: rows.map((row) => row.source) };
    });
    this.feedSignal.published(sources);
    return claims;
  }

  /**
   * The claimed message; or why its content cannot be read (never the content itself); or, for a
   * content key this replica's ring lacks, the hand-back that leaves it for a replica that holds
   * the key (a rollout or a rollback under way) until the message expires, then it fails.
   */
  private open(
    row: ClaimedRow,
    now: number,
  ): { claim: (leasedUntil: number) => ClaimedMessage } | { fail: string } | { defer: string } {
    if (row.payload === '')
      return { fail: 'failed: the content of this message was shredded; nothing to send' };
    let content: string;
    try {
      content = this.sealer.open(row.id, {
        payload: row.payload,
        contentKeyId: row.content_key_id,
        wrappedDataKey: row.wrapped_data_key,
      });
    } catch (error) {
      if (error instanceof ContentKeyMissingException && Number(row.expires_at) > now) {
        return { defer: `deferred: content key ${error.keyId} is not in this replica's key ring` };
      }
      if (error instanceof GatewayException) return { fail: `failed: ${error.message}` };
      throw error;
    }
    try {
      const mail = deserializeMail(content);
      return { claim: (leasedUntil) => toClaimedMessage(row, mail, leasedUntil) };
    } catch {
      return { fail: 'failed: the stored content of this message is not readable' };
    }
  }

  /**
   * Handed back for a later claim, the attempt not counted, with a wait that grows with the
   * message's age and ends at its expiry; another replica may take it first.
   */
  private async defer(
    manager: EntityManager,
    deferred: readonly { row: ClaimedRow; reason: string }[],
    now: number,
  ): Promise<void> {
    for (const { row, reason } of deferred) {
      const wait = Math.min(
        MISSING_KEY_MAX_RETRY_MS,
        Math.max(MISSING_KEY_MIN_RETRY_MS, now - Number(row.accepted_at)),
      );
      const parameters = this.transactions.parameters();
      await runStatement(
        manager,
        `UPDATE outbox_message SET status = '${MessageStatus.Retrying}', attempts = attempts - 1,
                next_attempt_at = ${parameters.add(Math.min(now + wait, Number(row.expires_at)))},
                last_error = ${parameters.add(truncate(reason))}, updated_at = ${parameters.add(now)}
          WHERE id = ${parameters.add(row.id)} AND lease_token = ${parameters.add(row.lease_token)}`,
        parameters.values,
      );
    }
  }

  /** Unreadable claims end FAILED under the lease just taken. */
  private async failUnreadable(
    manager: EntityManager,
    unreadable: readonly { row: ClaimedRow; reason: string }[],
    now: number,
  ): Promise<void> {
    for (const { row, reason } of unreadable) {
      const parameters = this.transactions.parameters();
      await runStatement(
        manager,
        `UPDATE outbox_message SET status = '${MessageStatus.Failed}', last_error = ${parameters.add(truncate(reason))},
                updated_at = ${parameters.add(now)}
          WHERE id = ${parameters.add(row.id)} AND lease_token = ${parameters.add(row.lease_token)}`,
        parameters.values,
      );
    }
  }

  /**
   * Records how an attempt ended, unless a newer claim has taken the message since (its lease ran
   * out): then nothing changes and the result is false.
   */
  async complete(claim: ClaimedMessage, outcome: AttemptOutcome, detail: string): Promise<boolean> {
    const eventType =
      outcome.status === MessageStatus.Retrying && outcome.outcomeUnknown
        ? MessageEventType.OutcomeUnknown
        : EVENT_FOR_OUTCOME[outcome.status];
    const [applied] = await this.transitions.submit([
      {
        claim,
        status: outcome.status,
        nextAttemptAt: outcome.status === MessageStatus.Retrying ? outcome.nextAttemptAt : null,
        provider: outcome.provider,
        providerMessageId: outcome.status === MessageStatus.Delivered ? outcome.providerMessageId : null,
        lastError:
          outcome.status === MessageStatus.Delivered || outcome.status === MessageStatus.Suppressed
            ? null
            : truncate(outcome.error),
        eventType,
        detail,
        spared: outcome.status === MessageStatus.Retrying && outcome.sparesAttempt ? 1 : 0,
        refusedRecipients:
          outcome.status === MessageStatus.Delivered ? (outcome.refusedRecipients ?? []) : [],
        suppressedRecipients: outcome.suppressedRecipients ?? [],
      },
    ]);
    return applied;
  }

  /** Hands an unfinished attempt back so any process may claim it again at once; fenced likewise. */
  async release(claim: ClaimedMessage, reason: string): Promise<boolean> {
    const [applied] = await this.transitions.submit([
      {
        claim,
        status: MessageStatus.Retrying,
        nextAttemptAt: Date.now(),
        provider: null,
        providerMessageId: null,
        lastError: reason,
        eventType: MessageEventType.Released,
        detail: reason,
        spared: 0,
        refusedRecipients: [],
        suppressedRecipients: [],
      },
    ]);
    return applied;
  }

  /**
   * Hands back claims this process took but never started (it is stopping, or their lease would
   * run out before a slot freed): due again at once for any process, the attempt not counted
   * (nothing was sent), one RELEASED event each; fenced likewise, so a claim taken over since is
   * left to its new owner. Answers, per claim, whether it was handed back.
   */
  releaseUnstarted(claims: readonly ClaimedMessage[], reason: string): Promise<boolean[]> {
    const now = Date.now();
    return this.transitions.submit(
      claims.map((claim) => ({
        claim,
        status: MessageStatus.Retrying,
        nextAttemptAt: now,
        provider: null,
        providerMessageId: null,
        lastError: reason,
        eventType: MessageEventType.Released,
        detail: reason,
        spared: 1,
        refusedRecipients: [],
        suppressedRecipients: [],
      })),
    );
  }

  /**
   * Applies a group of transitions with one fenced UPDATE: a row changes only while it is still
   * sending under the same lease token. Events are written for the rows that changed.
   */
  private async apply(transitions: Transition[]): Promise<boolean[]> {
    const postgres = this.transactions.dialect === 'postgres';
    const results =
      postgres && transitions.every(hasNoRecipientEvents)
        ? await this.applyInOneStatement(transitions)
        : await this.transactions.run((manager) => this.applyInTransaction(manager, transitions));
    this.feedSignal.published(
      transitions.filter((_transition, index) => results[index]).map(({ claim }) => claim.source),
    );
    return results;
  }

  /** The usual group on PostgreSQL: the UPDATE and the messages' events, one prepared statement. */
  private async applyInOneStatement(transitions: readonly Transition[]): Promise<boolean[]> {
    const parameters = this.transactions.parameters();
    const sql = recordOutcomesStatement(parameters, transitions.map(outcomeRow), Date.now(), Date.now());
    const changed = await this.transactions.statement<{ id: string }>(sql, parameters.values);
    const recorded = new Set(changed.map(({ id }) => id));
    return transitions.map(({ claim }) => recorded.has(claim.id));
  }

  /**
   * On SQLite, and for groups with recipients' events: the UPDATE, then the recipients' events
   * (left out or refused), then the messages' own, in the order they happened.
   */
  private async applyInTransaction(
    manager: EntityManager,
    transitions: readonly Transition[],
  ): Promise<boolean[]> {
    const now = Date.now();
    const parameters = this.transactions.parameters();
    const changed = await runStatement<{ id: string; status: MessageStatus }>(
      manager,
      fencedUpdateStatement(
        parameters,
        this.transactions.dialect === 'postgres',
        transitions.map(outcomeRow),
        now,
      ),
      parameters.values,
    );
    // A cancel that came during the attempt turns "retry later" into the end of the message.
    const statusOf = new Map(changed.map((row) => [row.id, row.status]));
    const applied = new Set(statusOf.keys());
    // Left out before the send, so recorded first; a recipient already suppressed stays as it was.
    await applyRecipientUpdates(
      manager,
      this.transactions.dialect,
      transitions
        .filter((transition) => applied.has(transition.claim.id))
        .flatMap(({ claim, provider, suppressedRecipients }) =>
          suppressedRecipients.map((recipient) => ({
            messageId: claim.id,
            source: claim.source,
            address: recipient.address,
            state: RecipientState.Suppressed,
            detail: suppressedRecipientDetail(recipient),
            occurredAt: now,
            provider,
            attempt: claim.attempt,
          })),
        ),
    );
    await insertEvents(
      manager,
      this.transactions.dialect,
      transitions
        .filter((transition) => applied.has(transition.claim.id))
        .flatMap(({ claim, status, eventType, detail, provider, refusedRecipients }) => {
          const cancelled =
            status === MessageStatus.Retrying && statusOf.get(claim.id) === MessageStatus.Cancelled;
          const about = { messageId: claim.id, source: claim.source, attempt: claim.attempt, provider };
          const type = cancelled ? MessageEventType.Cancelled : eventType;
          return [
            {
              ...about,
              type,
              detail: cancelled ? cancelledDetail(claim.attempt, detail) : detail,
              occurredAt: now,
            },
            ...refusedRecipients.map((refusal) => ({
              ...about,
              type: MessageEventType.RecipientRefused,
              detail: refusal.detail,
              recipient: refusal.address,
              occurredAt: now,
            })),
          ];
        }),
    );
    return transitions.map((transition) => applied.has(transition.claim.id));
  }
}

function cancelledDetail(attempt: number, detail: string): string {
  return `cancelled: requested during attempt ${attempt}, which ended: ${detail}`;
}

/** The transition's values in the order of OUTCOME_COLUMNS (outcome-statements.ts). */
function outcomeRow(transition: Transition): unknown[] {
  const { claim } = transition;
  return [
    claim.id,
    claim.leaseToken,
    transition.status,
    transition.nextAttemptAt,
    transition.provider,
    transition.providerMessageId,
    transition.lastError,
    transition.spared,
    claim.source,
    claim.attempt,
    transition.eventType,
    truncate(transition.detail),
    truncate(cancelledDetail(claim.attempt, transition.detail)),
  ];
}

function hasNoRecipientEvents(transition: Transition): boolean {
  return transition.suppressedRecipients.length === 0 && transition.refusedRecipients.length === 0;
}

function toClaimedMessage(row: ClaimedRow, mail: Mail, leasedUntil: number): ClaimedMessage {
  return {
    id: row.id,
    source: row.source,
    idempotencyKey: row.idempotency_key,
    mail,
    attempt: row.attempts,
    sparedAttempts: Number(row.spared_attempts ?? 0),
    leaseToken: row.lease_token,
    leasedUntil,
    acceptedAt: Number(row.accepted_at),
    expiresAt: Number(row.expires_at),
    traceparent: row.traceparent ?? null,
  };
}
