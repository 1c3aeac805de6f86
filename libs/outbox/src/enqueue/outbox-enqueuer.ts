import { createHash, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import { insertRows, isUniqueViolation, TransactionRunner } from '@mailgateway/database';
import { EntityManager } from 'typeorm';
import { insertEvents, NewEvent } from '../event-rows';
import { FeedSignal } from '../feed/feed-signal';
import { mailFingerprint, serializeMail } from '../mail-payload';
import { MessageEventType, MessageStatus } from '../message-status';
import { OutboxConfig, outboxConfig } from '../outbox.settings';
import { GroupCommit } from '../group-commit';
import { OutboxOverloadedException } from './outbox-overloaded.exception';
import {
  recipientCount,
  SuppressedRecipient,
  suppressedRecipientDetail,
  withoutRecipients,
} from './suppressed-recipient';

export interface EnqueueRequest {
  readonly source: string;
  readonly idempotencyKey: string | null;
  readonly mail: Mail;
  /** W3C traceparent to continue at delivery time, if the call was traced. */
  readonly traceparent?: string | null;
  /** When to send (epoch ms); null or past: at once. */
  readonly sendAt?: number | null;
  /**
   * Recipients of `mail` on the suppression list: left out of the stored mail, each with a
   * RECIPIENT_SUPPRESSED event; with none left the message is stored SUPPRESSED, never sent.
   * `mail` stays the caller's own, so the idempotency hash does not depend on the list.
   */
  readonly suppressed?: readonly SuppressedRecipient[];
  /** The source refuses a message with a suppressed recipient instead (a replay still replays). */
  readonly refuseSuppressed?: boolean;
}

export type EnqueueResult =
  | {
      readonly kind: 'accepted';
      readonly messageId: string;
      readonly acceptedAt: number;
      readonly replayed: boolean;
      /** Left out of the stored message (lowercased); empty for a replay. */
      readonly suppressedRecipients: readonly string[];
    }
  | { readonly kind: 'idempotency-conflict'; readonly messageId: string }
  /** A recipient is suppressed and the source refuses such messages: nothing was stored. */
  | { readonly kind: 'suppressed-refused'; readonly suppressed: readonly SuppressedRecipient[] };

/** What an earlier message under the same key tells a new request: replay or conflict. */
interface TakenKey {
  readonly id: string;
  readonly contentHash: string;
  readonly acceptedAt: number;
}

const ENQUEUE_TRIES = 3;
/** Items per group commit: bounded so one transaction stays short. */
const MAX_ENQUEUE_GROUP = 1000;
/** The delay an overloaded gateway asks callers to wait: about a few commits' time. */
const OVERLOAD_RETRY_MS = 250;

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
  'labels',
  'traceparent',
  'send_at',
] as const;

/**
 * The accept path's way into the outbox: admission control, then group commit. A caller hears
 * back only once its messages are committed.
 */
@Injectable()
export class OutboxEnqueuer {
  private readonly commits: GroupCommit<EnqueueRequest, EnqueueResult>;

  constructor(
    private readonly transactions: TransactionRunner,
    @InjectConfig(outboxConfig) private readonly config: OutboxConfig,
    private readonly feedSignal: FeedSignal,
  ) {
    // SQLite has one writer; PostgreSQL overlaps a few commits on the pool's connections.
    const parallelCommits = Math.max(1, Math.floor(transactions.connections / 2));
    // Admission control: past this many waiting messages, callers are refused rather than queued.
    this.commits = new GroupCommit(
      (requests) => this.commitWithRetries(requests),
      parallelCommits,
      MAX_ENQUEUE_GROUP,
      'outbox enqueue',
      {
        items: config.maxQueuedMessages,
        refuse: (waiting) => new OutboxOverloadedException(waiting, OVERLOAD_RETRY_MS),
      },
    );
  }

  /**
   * Throws OutboxOverloadedException when `count` messages would be refused by enqueue now: lets a
   * call be turned away before the work of validating it.
   */
  admit(count: number): void {
    this.commits.admit(count);
  }

  /**
   * Commits every new message and resolves only after the commit. Requests whose idempotency key
   * is already taken (by the same source) come back as replays or conflicts and store nothing.
   */
  enqueue(requests: readonly EnqueueRequest[]): Promise<EnqueueResult[]> {
    return this.commits.submit(requests);
  }

  private async commitWithRetries(requests: readonly EnqueueRequest[]): Promise<EnqueueResult[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.transactions.run((manager) => this.insert(manager, requests));
        this.feedSignal.published(
          requests
            .filter((_request, index) => results[index].kind === 'accepted' && !isReplay(results[index]))
            .map((request) => request.source),
        );
        return results;
      } catch (error) {
        // Two callers raced on one idempotency key: the retry finds the winner's row.
        if (attempt < ENQUEUE_TRIES && isUniqueViolation(error)) continue;
        throw error;
      }
    }
  }

  private async insert(
    manager: EntityManager,
    requests: readonly EnqueueRequest[],
  ): Promise<EnqueueResult[]> {
    const now = Date.now();
    const taken = await this.findTakenKeys(manager, requests);
    const rows: unknown[][] = [];
    const suppressedEvents: NewEvent[] = [];
    const results = requests.map((request): EnqueueResult => {
      const contentHash = contentFingerprint(request);
      const scope = request.idempotencyKey && idempotencyScope(request.source, request.idempotencyKey);
      const earlier = scope ? taken.get(scope) : undefined;
      if (earlier) {
        return earlier.contentHash === contentHash
          ? {
              kind: 'accepted',
              messageId: earlier.id,
              acceptedAt: earlier.acceptedAt,
              replayed: true,
              suppressedRecipients: [],
            }
          : { kind: 'idempotency-conflict', messageId: earlier.id };
      }
      const suppressed = request.suppressed ?? [];
      if (suppressed.length > 0 && request.refuseSuppressed)
        return { kind: 'suppressed-refused', suppressed };
      const id = randomUUID();
      const row = this.newRow(id, request, contentHash, now);
      rows.push(row);
      for (const recipient of suppressed) {
        suppressedEvents.push({
          messageId: id,
          source: request.source,
          type: MessageEventType.RecipientSuppressed,
          attempt: 0,
          detail: suppressedRecipientDetail(recipient),
          occurredAt: now,
          recipient: recipient.address,
        });
      }
      if (row[MESSAGE_COLUMNS.indexOf('status')] === MessageStatus.Suppressed) {
        suppressedEvents.push({
          messageId: id,
          source: request.source,
          type: MessageEventType.Suppressed,
          attempt: 0,
          detail: 'every recipient is on the suppression list: never sent',
          occurredAt: now,
        });
      }
      // A later item of the same group with the same source and key replays this one.
      if (scope) taken.set(scope, { id, contentHash, acceptedAt: now });
      return {
        kind: 'accepted',
        messageId: id,
        acceptedAt: now,
        replayed: false,
        suppressedRecipients: suppressed.map(({ address }) => address),
      };
    });
    if (rows.length > 0) {
      await insertRows(manager, this.transactions.dialect, 'outbox_message', MESSAGE_COLUMNS, rows);
      await insertEvents(manager, this.transactions.dialect, [
        ...rows.map((row): NewEvent => {
          const sendAt = row[MESSAGE_COLUMNS.indexOf('send_at')] as number | null;
          return {
            messageId: row[0] as string,
            source: row[1] as string,
            type: MessageEventType.Accepted,
            attempt: 0,
            detail:
              sendAt !== null && sendAt > now
                ? `accepted; scheduled for ${new Date(sendAt).toISOString()}`
                : 'accepted',
            occurredAt: now,
          };
        }),
        ...suppressedEvents,
      ]);
    }
    return results;
  }

  /** Earlier messages holding any key of this group, one query per source. */
  private async findTakenKeys(
    manager: EntityManager,
    requests: readonly EnqueueRequest[],
  ): Promise<Map<string, TakenKey>> {
    const keysBySource = new Map<string, string[]>();
    for (const { source, idempotencyKey } of requests) {
      if (idempotencyKey) keysBySource.set(source, [...(keysBySource.get(source) ?? []), idempotencyKey]);
    }
    const taken = new Map<string, TakenKey>();
    for (const [source, keys] of keysBySource) {
      const parameters = this.transactions.parameters();
      const rows: {
        id: string;
        idempotency_key: string;
        content_hash: string;
        accepted_at: string | number;
      }[] = await manager.query(
        `SELECT id, idempotency_key, content_hash, accepted_at FROM outbox_message
            WHERE source = ${parameters.add(source)}
              AND idempotency_key IN (${keys.map((key) => parameters.add(key)).join(', ')})`,
        parameters.values,
      );
      for (const row of rows) {
        taken.set(idempotencyScope(source, row.idempotency_key), {
          id: row.id,
          contentHash: row.content_hash,
          acceptedAt: Number(row.accepted_at),
        });
      }
    }
    return taken;
  }

  /** A new message's values in MESSAGE_COLUMNS order. */
  private newRow(id: string, request: EnqueueRequest, contentHash: string, now: number): unknown[] {
    const sendAt = request.sendAt ?? null;
    // The maximum age counts from when the message is due, not from when it was accepted.
    const dueAt = Math.max(now, sendAt ?? now);
    const left = new Set((request.suppressed ?? []).map(({ address }) => address));
    const mail = left.size > 0 ? withoutRecipients(request.mail, left) : request.mail;
    // No recipient left: final at once, never claimed (the claim takes active statuses only).
    const status =
      recipientCount(mail) === 0
        ? MessageStatus.Suppressed
        : dueAt > now
          ? MessageStatus.Scheduled
          : MessageStatus.Queued;
    const row: Record<(typeof MESSAGE_COLUMNS)[number], unknown> = {
      id,
      source: request.source,
      idempotency_key: request.idempotencyKey,
      content_hash: contentHash,
      payload: serializeMail(mail),
      status,
      attempts: 0,
      lease_token: 0,
      next_attempt_at: dueAt,
      accepted_at: now,
      expires_at: dueAt + this.config.messageMaxAgeMs,
      updated_at: now,
      send_at: sendAt,
      labels: JSON.stringify({ tags: request.mail.tags, metadata: request.mail.metadata }),
      traceparent: request.traceparent ?? null,
    };
    return MESSAGE_COLUMNS.map((column) => row[column]);
  }
}

/**
 * What a replay must match: the mail and its send time. A message sent at once keeps the mail's
 * own fingerprint, so keys stored before send_at existed still replay.
 */
function contentFingerprint({ mail, sendAt }: EnqueueRequest): string {
  const fingerprint = mailFingerprint(mail);
  return sendAt == null ? fingerprint : createHash('sha256').update(`${fingerprint}:${sendAt}`).digest('hex');
}

function isReplay(result: EnqueueResult): boolean {
  return result.kind === 'accepted' && result.replayed;
}

function idempotencyScope(source: string, key: string): string {
  return `${source}\u0000${key}`;
}
