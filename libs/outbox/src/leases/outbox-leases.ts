import { Injectable } from '@nestjs/common';
import type { Mail } from '@mailgateway/contracts';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import { GroupCommit } from '../group-commit';
import { insertEvents, truncate } from '../event-rows';
import { FeedSignal } from '../feed/feed-signal';
import { deserializeMail } from '../mail-payload';
import { FinalStatus, MessageEventType, MessageStatus } from '../message-status';
import { SuppressedRecipient, suppressedRecipientDetail } from '../enqueue/suppressed-recipient';
import { applyRecipientUpdates } from '../recipients/recipient-outcomes';
import { RecipientState } from '../recipients/recipient-state';
import { claimDueStatement } from './claim-due-statement';

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
  attempts: number;
  spared_attempts: number;
  lease_token: number;
  accepted_at: string | number;
  expires_at: string | number;
  traceparent: string | null;
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
  ) {
    const parallelCommits = Math.max(1, Math.floor(transactions.connections / 2));
    this.transitions = new GroupCommit(
      (group) => this.apply(group),
      parallelCommits,
      MAX_TRANSITION_GROUP,
      'outbox transition',
    );
  }

  /**
   * Claims up to `limit` due messages with one UPDATE ... RETURNING and commits the claim. A due
   * row with a cancel requested is one whose attempt never reported back (its lease ran out): it
   * ends CANCELLED in the same statement instead of being tried again.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    const { claims, sources } = await this.transactions.run(async (manager) => {
      const now = Date.now();
      const parameters = this.transactions.parameters();
      const rows = await runStatement<ClaimedRow>(
        manager,
        claimDueStatement(parameters, this.transactions.dialect === 'postgres', { now, limit, leaseMs }),
        parameters.values,
      );
      const cancelled = rows.filter((row) => row.status === MessageStatus.Cancelled);
      const claims = rows.filter((row) => row.status !== MessageStatus.Cancelled).map(toClaimedMessage);
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
      ]);
      return { claims, sources: rows.map((row) => row.source) };
    });
    this.feedSignal.published(sources);
    return claims;
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
   * Applies a group of transitions with one fenced UPDATE: a row changes only while it is still
   * sending under the same lease token. Events are written for the rows that changed.
   */
  private async apply(transitions: Transition[]): Promise<boolean[]> {
    const results = await this.transactions.run(async (manager) => {
      const now = Date.now();
      const parameters = this.transactions.parameters();
      const at = (value: unknown) => parameters.add(value);
      const rows = transitions.map(
        (transition) =>
          `(${at(transition.claim.id)}, CAST(${at(transition.claim.leaseToken)} AS INTEGER), ${at(transition.status)}, ` +
          `CAST(${at(transition.nextAttemptAt)} AS BIGINT), ${at(transition.provider)}, ${at(transition.providerMessageId)}, ` +
          `${at(transition.lastError)}, CAST(${at(transition.spared)} AS INTEGER))`,
      );
      // On PostgreSQL the rows are locked in id order first, as a cancel of many messages locks
      // them: the UPDATE alone takes them in whatever order its plan visits them, and two such
      // orders can deadlock. In the same statement, so the hot path pays no extra round trip.
      const postgres = this.transactions.dialect === 'postgres';
      const lockInIdOrder = postgres
        ? ', locked AS MATERIALIZED (SELECT id FROM outbox_message WHERE id IN (SELECT id FROM outcome) ORDER BY id FOR UPDATE)'
        : '';
      const onlyLocked = postgres ? ' AND outbox_message.id IN (SELECT id FROM locked)' : '';
      const changed = await runStatement<{ id: string; status: MessageStatus }>(
        manager,
        `WITH outcome (id, lease_token, status, next_attempt_at, provider, provider_message_id, last_error, spared) AS (
           VALUES ${rows.join(', ')})${lockInIdOrder}
         UPDATE outbox_message
            SET status = CASE WHEN outcome.status = '${MessageStatus.Retrying}'
                               AND outbox_message.cancel_requested_at IS NOT NULL
                              THEN '${MessageStatus.Cancelled}' ELSE outcome.status END,
                next_attempt_at = COALESCE(outcome.next_attempt_at, outbox_message.next_attempt_at),
                provider = COALESCE(outcome.provider, outbox_message.provider),
                provider_message_id = COALESCE(outcome.provider_message_id, outbox_message.provider_message_id),
                last_error = outcome.last_error,
                spared_attempts = outbox_message.spared_attempts + outcome.spared,
                updated_at = ${at(now)}
           FROM outcome
          WHERE outbox_message.id = outcome.id
            AND outbox_message.lease_token = outcome.lease_token
            AND outbox_message.status = '${MessageStatus.Sending}'${onlyLocked}
         RETURNING outbox_message.id, outbox_message.status`,
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
                detail: cancelled
                  ? `cancelled: requested during attempt ${claim.attempt}, which ended: ${detail}`
                  : detail,
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
    });
    this.feedSignal.published(
      transitions.filter((_transition, index) => results[index]).map(({ claim }) => claim.source),
    );
    return results;
  }
}

function toClaimedMessage(row: ClaimedRow): ClaimedMessage {
  return {
    id: row.id,
    source: row.source,
    idempotencyKey: row.idempotency_key,
    mail: deserializeMail(row.payload),
    attempt: row.attempts,
    sparedAttempts: Number(row.spared_attempts ?? 0),
    leaseToken: row.lease_token,
    acceptedAt: Number(row.accepted_at),
    expiresAt: Number(row.expires_at),
    traceparent: row.traceparent ?? null,
  };
}
