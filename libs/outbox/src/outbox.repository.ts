import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import { EntityManager, In, QueryFailedError } from 'typeorm';
import { MessageEventEntity } from './entities/message-event.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { GroupCommit } from './group-commit';
import { insertRows, runStatement, SqlParameters } from './sql-statements';
import { deserializeMail, mailFingerprint, serializeMail } from './mail-payload';
import { ACTIVE_STATUSES, FinalStatus, MessageEventType, MessageStatus } from './message-status';
import { OutboxOverloadedException } from './outbox-overloaded.exception';
import { TransactionRunner } from './transaction-runner';

export interface EnqueueRequest {
  readonly source: string;
  readonly idempotencyKey: string | null;
  readonly mail: Mail;
  /** W3C traceparent to continue at delivery time, if the call was traced. */
  readonly traceparent?: string | null;
}

export type EnqueueResult =
  | {
      readonly kind: 'accepted';
      readonly messageId: string;
      readonly acceptedAt: number;
      readonly replayed: boolean;
    }
  | { readonly kind: 'idempotency-conflict'; readonly messageId: string };

/** A message claimed for one delivery attempt; leaseToken fences the attempt's outcome. */
export interface ClaimedMessage {
  readonly id: string;
  readonly source: string;
  readonly idempotencyKey: string | null;
  readonly mail: Mail;
  readonly attempt: number;
  readonly leaseToken: number;
  readonly acceptedAt: number;
  readonly expiresAt: number;
  /** W3C traceparent of the accepting call: the upstream request carries it on. */
  readonly traceparent: string | null;
}

export type AttemptOutcome =
  | {
      readonly status: MessageStatus.Delivered;
      readonly provider: string;
      readonly providerMessageId: string | null;
    }
  | {
      readonly status: MessageStatus.Retrying;
      readonly provider: string;
      readonly nextAttemptAt: number;
      readonly error: string;
      /** The attempt may have reached the provider: recorded as an event of its own type. */
      readonly outcomeUnknown?: boolean;
    }
  | {
      readonly status: Exclude<FinalStatus, MessageStatus.Delivered>;
      readonly provider: string | null;
      readonly error: string;
    };

export interface MessageHistory {
  readonly message: OutboxMessageEntity;
  readonly events: MessageEventEntity[];
}

const EVENT_FOR_OUTCOME: Record<AttemptOutcome['status'], MessageEventType> = {
  [MessageStatus.Delivered]: MessageEventType.Delivered,
  [MessageStatus.Retrying]: MessageEventType.RetryScheduled,
  [MessageStatus.Failed]: MessageEventType.Failed,
  [MessageStatus.Expired]: MessageEventType.Expired,
  [MessageStatus.Cancelled]: MessageEventType.Failed,
  [MessageStatus.Suppressed]: MessageEventType.Failed,
};

const MAX_DETAIL_LENGTH = 1000;
const ENQUEUE_TRIES = 3;
/** Items per group commit: bounded so one transaction stays short. */
const MAX_ENQUEUE_GROUP = 1000;
const MAX_TRANSITION_GROUP = 500;
/** The delay an overloaded gateway asks callers to wait: about a few commits' time. */
const OVERLOAD_RETRY_MS = 250;

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
}

@Injectable()
export class OutboxRepository {
  private readonly enqueues: GroupCommit<EnqueueRequest, EnqueueResult>;
  private readonly transitions: GroupCommit<Transition, boolean>;

  constructor(
    private readonly transactions: TransactionRunner,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    // SQLite has one writer; PostgreSQL overlaps a few commits on the pool's connections.
    const parallelCommits =
      transactions.dialect === 'sqlite' ? 1 : Math.max(1, Math.floor(poolSize(config) / 2));
    // Admission control: past this many waiting messages, callers are refused rather than queued.
    this.enqueues = new GroupCommit(
      (requests) => this.enqueueNow(requests),
      parallelCommits,
      MAX_ENQUEUE_GROUP,
      {
        items: config.limits.maxQueuedMessages,
        refuse: (waiting) => new OutboxOverloadedException(waiting, OVERLOAD_RETRY_MS),
      },
    );
    this.transitions = new GroupCommit(
      (transitions) => this.applyTransitions(transitions),
      parallelCommits,
      MAX_TRANSITION_GROUP,
    );
  }

  /**
   * Commits every new message and resolves only after the commit. Requests whose idempotency key
   * is already taken come back as replays or conflicts and store nothing. Concurrent callers share
   * a transaction (group commit).
   */
  enqueue(requests: readonly EnqueueRequest[]): Promise<EnqueueResult[]> {
    return this.enqueues.submit(requests);
  }

  /**
   * Throws OutboxOverloadedException when `count` messages would be refused by enqueue now: lets a
   * call be turned away before the work of validating it.
   */
  admit(count: number): void {
    this.enqueues.admit(count);
  }

  private async enqueueNow(requests: readonly EnqueueRequest[]): Promise<EnqueueResult[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactions.run((manager) => this.enqueueWith(manager, requests));
      } catch (error) {
        // Two callers raced on one idempotency key: the retry finds the winner's row.
        if (attempt < ENQUEUE_TRIES && isUniqueViolation(error)) continue;
        throw error;
      }
    }
  }

  /**
   * Claims up to `limit` due messages with one UPDATE ... RETURNING and commits the claim. On
   * PostgreSQL, SKIP LOCKED lets replicas claim side by side without taking the same row.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    return this.transactions.run(async (manager) => {
      const now = Date.now();
      const postgres = this.transactions.dialect === 'postgres';
      const parameters = new SqlParameters(postgres);
      const rows = await runStatement<ClaimedRow>(
        manager,
        `UPDATE outbox_message
            SET status = '${MessageStatus.Sending}', attempts = attempts + 1, lease_token = lease_token + 1,
                next_attempt_at = ${parameters.add(now + leaseMs)}, updated_at = ${parameters.add(now)}
          WHERE id IN (SELECT id FROM outbox_message
                        WHERE status IN (${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})
                          AND next_attempt_at <= ${parameters.add(now)}
                        ORDER BY next_attempt_at
                        LIMIT ${parameters.add(limit)}${postgres ? ' FOR UPDATE SKIP LOCKED' : ''})
          RETURNING id, source, idempotency_key, payload, attempts, lease_token, accepted_at, expires_at, traceparent`,
        parameters.values,
      );
      if (rows.length === 0) return [];
      const claims = rows.map(toClaimedMessage);
      await this.insertEvents(
        manager,
        claims.map((claim) =>
          newEvent(claim.id, MessageEventType.AttemptStarted, claim.attempt, `attempt ${claim.attempt}`, now),
        ),
      );
      return claims;
    });
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
        lastError: outcome.status === MessageStatus.Delivered ? null : truncate(outcome.error),
        eventType,
        detail,
      },
    ]);
    return applied;
  }

  /** Hands an unfinished attempt back so any process may claim it again at once. */
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
      },
    ]);
    return applied;
  }

  /** The message and its history, or null when it does not exist or belongs to another source. */
  async findHistory(source: string, messageId: string): Promise<MessageHistory | null> {
    return this.transactions.run(async (manager) => {
      const message = await manager.findOneBy(OutboxMessageEntity, { id: messageId, source });
      if (!message) return null;
      const events = await manager.find(MessageEventEntity, {
        where: { messageId },
        order: { sequence: 'ASC' },
      });
      return { message, events };
    });
  }

  private async enqueueWith(
    manager: EntityManager,
    requests: readonly EnqueueRequest[],
  ): Promise<EnqueueResult[]> {
    const now = Date.now();
    const taken = await this.findTakenKeys(manager, requests);
    const messages: NewMessageRow[] = [];
    const results = requests.map((request): EnqueueResult => {
      const contentHash = mailFingerprint(request.mail);
      const keyOfRequest = request.idempotencyKey && idempotencyScope(request.source, request.idempotencyKey);
      const earlier = keyOfRequest ? taken.get(keyOfRequest) : undefined;
      if (earlier) {
        return earlier.contentHash === contentHash
          ? { kind: 'accepted', messageId: earlier.id, acceptedAt: earlier.acceptedAt, replayed: true }
          : { kind: 'idempotency-conflict', messageId: earlier.id };
      }
      const id = randomUUID();
      messages.push(this.newMessage(id, request, contentHash, now));
      // A later item of the same batch with the same key replays this one.
      if (keyOfRequest) taken.set(keyOfRequest, { id, contentHash, acceptedAt: now });
      return { kind: 'accepted', messageId: id, acceptedAt: now, replayed: false };
    });
    if (messages.length > 0) {
      await insertRows(
        manager,
        this.transactions.dialect === 'postgres',
        'outbox_message',
        MESSAGE_COLUMNS,
        messages.map((message) => MESSAGE_COLUMNS.map((column) => message[column])),
      );
      await this.insertEvents(
        manager,
        messages.map((message) =>
          newEvent(String(message.id), MessageEventType.Accepted, 0, 'accepted', now),
        ),
      );
    }
    return results;
  }

  private async findTakenKeys(
    manager: EntityManager,
    requests: readonly EnqueueRequest[],
  ): Promise<Map<string, Pick<OutboxMessageEntity, 'id' | 'contentHash' | 'acceptedAt'>>> {
    const keysBySource = new Map<string, string[]>();
    for (const { source, idempotencyKey } of requests) {
      if (idempotencyKey) keysBySource.set(source, [...(keysBySource.get(source) ?? []), idempotencyKey]);
    }
    const taken = new Map<string, Pick<OutboxMessageEntity, 'id' | 'contentHash' | 'acceptedAt'>>();
    for (const [source, keys] of keysBySource) {
      const rows = await manager.find(OutboxMessageEntity, {
        select: { id: true, idempotencyKey: true, contentHash: true, acceptedAt: true },
        where: { source, idempotencyKey: In(keys) },
      });
      for (const row of rows) taken.set(idempotencyScope(source, row.idempotencyKey!), row);
    }
    return taken;
  }

  private newMessage(id: string, request: EnqueueRequest, contentHash: string, now: number): NewMessageRow {
    return {
      id,
      source: request.source,
      idempotency_key: request.idempotencyKey,
      content_hash: contentHash,
      payload: serializeMail(request.mail),
      status: MessageStatus.Queued,
      attempts: 0,
      lease_token: 0,
      next_attempt_at: now,
      accepted_at: now,
      expires_at: now + this.config.delivery.messageMaxAgeMs,
      updated_at: now,
      traceparent: request.traceparent ?? null,
    };
  }

  private insertEvents(manager: EntityManager, events: unknown[][]): Promise<void> {
    return insertRows(
      manager,
      this.transactions.dialect === 'postgres',
      'message_event',
      EVENT_COLUMNS,
      events,
    );
  }

  /**
   * Applies a group of transitions with one fenced UPDATE: a row changes only while it is still
   * sending under the same lease token. Events are written for the rows that changed.
   */
  private applyTransitions(transitions: Transition[]): Promise<boolean[]> {
    return this.transactions.run(async (manager) => {
      const now = Date.now();
      const parameters = new SqlParameters(this.transactions.dialect === 'postgres');
      const at = (value: unknown) => parameters.add(value);
      const rows = transitions.map(
        (transition) =>
          `(${at(transition.claim.id)}, CAST(${at(transition.claim.leaseToken)} AS INTEGER), ${at(transition.status)}, ` +
          `CAST(${at(transition.nextAttemptAt)} AS BIGINT), ${at(transition.provider)}, ${at(transition.providerMessageId)}, ` +
          `${at(transition.lastError)})`,
      );
      const changed = await runStatement<{ id: string }>(
        manager,
        `WITH outcome (id, lease_token, status, next_attempt_at, provider, provider_message_id, last_error) AS (
           VALUES ${rows.join(', ')})
         UPDATE outbox_message
            SET status = outcome.status,
                next_attempt_at = COALESCE(outcome.next_attempt_at, outbox_message.next_attempt_at),
                provider = COALESCE(outcome.provider, outbox_message.provider),
                provider_message_id = COALESCE(outcome.provider_message_id, outbox_message.provider_message_id),
                last_error = outcome.last_error,
                updated_at = ${at(now)}
           FROM outcome
          WHERE outbox_message.id = outcome.id
            AND outbox_message.lease_token = outcome.lease_token
            AND outbox_message.status = '${MessageStatus.Sending}'
         RETURNING outbox_message.id`,
        parameters.values,
      );
      const applied = new Set(changed.map((row) => row.id));
      const recorded = transitions.filter((transition) => applied.has(transition.claim.id));
      if (recorded.length > 0) {
        await this.insertEvents(
          manager,
          recorded.map(({ claim, eventType, detail }) =>
            newEvent(claim.id, eventType, claim.attempt, detail, now),
          ),
        );
      }
      return transitions.map((transition) => applied.has(transition.claim.id));
    });
  }
}

interface ClaimedRow {
  id: string;
  source: string;
  idempotency_key: string | null;
  payload: string;
  attempts: number;
  lease_token: number;
  accepted_at: string | number;
  expires_at: string | number;
  traceparent: string | null;
}

function toClaimedMessage(row: ClaimedRow): ClaimedMessage {
  return {
    id: row.id,
    source: row.source,
    idempotencyKey: row.idempotency_key,
    mail: deserializeMail(row.payload),
    attempt: row.attempts,
    leaseToken: row.lease_token,
    acceptedAt: Number(row.accepted_at),
    expiresAt: Number(row.expires_at),
    traceparent: row.traceparent ?? null,
  };
}

const EVENT_COLUMNS = ['message_id', 'type', 'attempt', 'detail', 'occurred_at'] as const;

function newEvent(
  messageId: string,
  type: MessageEventType,
  attempt: number,
  detail: string,
  occurredAt: number,
): unknown[] {
  return [messageId, type, attempt, truncate(detail), occurredAt];
}

type NewMessageRow = Record<(typeof MESSAGE_COLUMNS)[number], string | number | null>;

const MESSAGE_COLUMNS = [
  'id',
  'source',
  'idempotency_key',
  'content_hash',
  'payload',
  'status',
  'attempts',
  'lease_token',
  'next_attempt_at',
  'accepted_at',
  'expires_at',
  'updated_at',
  'traceparent',
] as const;

function poolSize(config: GatewayConfig): number {
  return config.database.type === 'postgres' ? config.database.poolSize : 1;
}

function idempotencyScope(source: string, key: string): string {
  return `${source}\u0000${key}`;
}

function truncate(text: string): string {
  return text.length > MAX_DETAIL_LENGTH ? `${text.slice(0, MAX_DETAIL_LENGTH - 1)}…` : text;
}

function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code = (error.driverError as { code?: string } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
