import { createHash, type Hmac, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import { ContentFingerprinter, ContentSealer } from '@mailgateway/encryption';
import {
  ArrayColumn,
  GroupCommit,
  insertRows,
  isUniqueViolation,
  TransactionRunner,
  unnestRows,
} from '@mailgateway/database';
import { EntityManager } from 'typeorm';
import { EVENT_COLUMNS, eventValues, insertEvents, NewEvent } from '../event-rows';
import { FeedSignal } from '../feed/feed-signal';
import { mailFingerprint, mailRecipients, mailSender, serializeMail } from '../mail-payload';
import { MessageEventType, MessageStatus } from '../message-status';
import { OutboxConfig, outboxConfig } from '../outbox.settings';
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
  /**
   * The API key (its prefix) that authenticated the call, when one did. The commit stores the
   * message only if that key is still unrevoked and unexpired at the commit itself, so a revocation
   * committed on any replica stops sends at once, even from a credential this process has cached.
   */
  readonly apiKeyPrefix?: string | null;
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
  | { readonly kind: 'suppressed-refused'; readonly suppressed: readonly SuppressedRecipient[] }
  /** The request's API key was revoked, or ran out, or is gone by the commit: nothing was stored. */
  | { readonly kind: 'credential-refused'; readonly failure: 'revoked' | 'expired' | 'unknown' };

/** What an earlier message under the same key tells a new request: replay or conflict. */
interface TakenKey {
  readonly id: string;
  readonly contentHash: string;
  readonly acceptedAt: number;
}

/** A request that stores a new message if its key allows it, with everything its commit writes. */
interface NewMessage {
  readonly id: string;
  /** Epoch ms: when the request was drafted, its accepted_at. */
  readonly acceptedAt: number;
  /** Values in MESSAGE_COLUMNS order. */
  readonly row: unknown[];
  readonly events: NewEvent[];
}

/**
 * A request worked out before it joins a commit group: its fingerprint and the message it would
 * store, sealed (none when it refuses a suppressed recipient). Drafted outside the group, so the
 * one commit in flight holds only its statement, not the sealing of everything in it.
 */
interface Draft {
  readonly request: EnqueueRequest;
  readonly contentHash: string;
  readonly scope: string | null;
  readonly message: NewMessage | null;
}

/** What one request of a group comes to before the commit; its result is known only after. */
type Planned = {
  readonly request: EnqueueRequest;
  readonly contentHash: string;
  readonly scope: string | null;
} & (
  | { readonly kind: 'new'; readonly message: NewMessage }
  /** An earlier request of the same group holds the same source and key: this one replays it. */
  | { readonly kind: 'follows'; readonly leader: Planned & { readonly kind: 'new' } }
  /** Refused for a suppressed recipient, unless its key is taken (then it replays). */
  | { readonly kind: 'refuses-suppressed'; readonly suppressed: readonly SuppressedRecipient[] }
);

/** What a commit found: the keys' state at the commit, what it stored, keys held by earlier commits. */
interface CommitOutcome {
  readonly failures: ReadonlyMap<string, CredentialFailure | null>;
  readonly inserted: ReadonlySet<string>;
  readonly taken: ReadonlyMap<string, TakenKey>;
}

type CredentialFailure = 'revoked' | 'expired' | 'unknown';

interface ApiKeyState {
  readonly prefix: string;
  readonly revoked_at: string | number | null;
  readonly expires_at: string | number | null;
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
  'content_key_id',
  'wrapped_data_key',
  'recipients',
  'sender',
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

/** Element types of the arrays that carry MESSAGE_COLUMNS (and the key prefix) into the statement. */
const MESSAGE_ARRAY_TYPES: Record<(typeof MESSAGE_COLUMNS)[number], string> = {
  id: 'text',
  source: 'text',
  idempotency_key: 'text',
  content_hash: 'text',
  payload: 'text',
  content_key_id: 'text',
  wrapped_data_key: 'text',
  recipients: 'text',
  sender: 'text',
  status: 'text',
  attempts: 'integer',
  lease_token: 'integer',
  next_attempt_at: 'bigint',
  accepted_at: 'bigint',
  expires_at: 'bigint',
  updated_at: 'bigint',
  labels: 'text',
  traceparent: 'text',
  send_at: 'bigint',
};
const MESSAGE_ARRAYS: readonly ArrayColumn[] = [
  ...MESSAGE_COLUMNS.map((name) => ({ name, type: MESSAGE_ARRAY_TYPES[name] })),
  { name: 'api_key_prefix', type: 'text' },
];
const EVENT_ARRAY_TYPES: Record<(typeof EVENT_COLUMNS)[number], string> = {
  message_id: 'text',
  source: 'text',
  type: 'text',
  attempt: 'integer',
  detail: 'text',
  occurred_at: 'bigint',
  recorded_at: 'bigint',
  provider: 'text',
  recipient: 'text',
};
const EVENT_ARRAYS: readonly ArrayColumn[] = EVENT_COLUMNS.map((name) => ({
  name,
  type: EVENT_ARRAY_TYPES[name],
}));

/**
 * The accept path's way into the outbox: admission control, then group commit. A caller hears
 * back only once its messages are committed.
 */
@Injectable()
export class OutboxEnqueuer {
  private readonly commits: GroupCommit<Draft, EnqueueResult>;

  constructor(
    private readonly transactions: TransactionRunner,
    @InjectConfig(outboxConfig) private readonly config: OutboxConfig,
    private readonly feedSignal: FeedSignal,
    private readonly sealer: ContentSealer,
    private readonly fingerprinter: ContentFingerprinter,
  ) {
    // One commit at a time on both databases. SQLite has one writer. On PostgreSQL a group is one
    // statement, a round trip and an fsync whatever its size, so callers are served best by one
    // commit in flight while the next group gathers behind it. Measured with 64 callers of one
    // message each: one at a time made groups of ~63 and 10-20% more messages/s at ~25% less CPU
    // per message than two (groups of ~23); the pool's half (5, groups of ~9) did worse still.
    // Batches gain little either way: two 500-message calls already fill a group.
    const parallelCommits = 1;
    // Admission control: past this many waiting messages, callers are refused rather than queued.
    this.commits = new GroupCommit(
      (drafts) => this.commitWithRetries(drafts),
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
   * is already taken (by the same source) come back as replays or conflicts and store nothing;
   * requests whose API key is no longer valid at the commit come back credential-refused.
   */
  async enqueue(requests: readonly EnqueueRequest[]): Promise<EnqueueResult[]> {
    const now = Date.now();
    return this.commits.submit(requests.map((request) => this.draft(request, now)));
  }

  /**
   * Commits in rounds: a request whose outcome a round cannot settle (its key's holder vanished
   * before it could be read, or the request it followed was refused) goes again in the next.
   */
  private async commitWithRetries(drafts: readonly Draft[]): Promise<EnqueueResult[]> {
    const results: (EnqueueResult | undefined)[] = drafts.map(() => undefined);
    let pending = drafts.map((_draft, index) => index);
    for (let attempt = 1; pending.length > 0; attempt++) {
      let round: (EnqueueResult | undefined)[];
      try {
        round = await this.commitRound(pending.map((index) => drafts[index]));
      } catch (error) {
        // Two writers raced on one idempotency key and the round rolled back: the retry finds the
        // winner's row.
        if (attempt < ENQUEUE_TRIES && isUniqueViolation(error)) continue;
        throw error;
      }
      pending.forEach((index, position) => (results[index] = round[position]));
      pending = pending.filter((index) => results[index] === undefined);
      if (pending.length > 0 && attempt >= ENQUEUE_TRIES) {
        throw new Error('idempotency keys kept changing hands during the commit');
      }
    }
    return results as EnqueueResult[];
  }

  /** One commit of `drafts`; undefined for a request to try again. */
  private async commitRound(drafts: readonly Draft[]): Promise<(EnqueueResult | undefined)[]> {
    const now = Date.now();
    const planned = plan(drafts);
    const outcome =
      this.transactions.dialect === 'postgres'
        ? await this.commitOnPostgres(planned, now)
        : await this.transactions.run((manager) => this.commitOnSqlite(manager, planned, now));
    this.feedSignal.published(
      planned
        .filter((item) => item.kind === 'new' && outcome.inserted.has(item.message.id))
        .map((item) => item.request.source),
    );
    return planned.map((item) => resolve(item, outcome));
  }

  /** A request's fingerprint and, unless it refuses its suppressed recipients, its message. */
  private draft(request: EnqueueRequest, now: number): Draft {
    const contentHash = contentFingerprint(request, this.fingerprinter.digest());
    const scope = request.idempotencyKey ? idempotencyScope(request.source, request.idempotencyKey) : null;
    const refusesSuppressed = (request.suppressed?.length ?? 0) > 0 && !!request.refuseSuppressed;
    const message = refusesSuppressed ? null : this.newMessage(request, contentHash, now);
    return { request, contentHash, scope, message };
  }

  /**
   * One statement, its own transaction: checks the API keys (locked FOR SHARE, so a revocation
   * committing meanwhile is waited for and seen), inserts the messages their keys allow and whose
   * idempotency keys are free, and the events of exactly those. Only when some key was taken does
   * a second query read the earlier rows.
   */
  private async commitOnPostgres(planned: readonly Planned[], now: number): Promise<CommitOutcome> {
    const messages = planned.flatMap((item) => (item.kind === 'new' ? [item] : []));
    const recordedAt = Date.now();
    const parameters = this.transactions.parameters();
    const prefixes = parameters.add(keyPrefixes(planned));
    const at = parameters.add(now);
    const candidates = unnestRows(
      parameters,
      'm',
      MESSAGE_ARRAYS,
      messages.map(({ message, request }) => [...message.row, request.apiKeyPrefix ?? null]),
    );
    const events = unnestRows(
      parameters,
      'e',
      EVENT_ARRAYS,
      messages.flatMap(({ message }) => message.events.map((event) => eventValues(event, recordedAt))),
    );
    const rows = await this.transactions.statement<{
      id: string | null;
      prefix: string | null;
      revoked_at: string | null;
      expires_at: string | null;
    }>(
      `WITH keys AS MATERIALIZED (
         SELECT prefix, revoked_at, expires_at FROM api_key WHERE prefix = ANY(${prefixes}::text[]) FOR SHARE
       ),
       inserted AS (
         INSERT INTO outbox_message (${MESSAGE_COLUMNS.join(', ')})
         SELECT ${MESSAGE_COLUMNS.join(', ')} FROM ${candidates}
          WHERE m.api_key_prefix IS NULL
             OR EXISTS (SELECT 1 FROM keys k WHERE k.prefix = m.api_key_prefix AND k.revoked_at IS NULL
                           AND (k.expires_at IS NULL OR k.expires_at > ${at}))
         ON CONFLICT (source, idempotency_key) DO NOTHING
         RETURNING id
       ),
       events AS (
         INSERT INTO message_event (${EVENT_COLUMNS.join(', ')})
         SELECT ${EVENT_COLUMNS.join(', ')} FROM ${events} WHERE e.message_id IN (SELECT id FROM inserted)
       )
       SELECT id, NULL AS prefix, NULL::bigint AS revoked_at, NULL::bigint AS expires_at FROM inserted
       UNION ALL
       SELECT NULL, prefix, revoked_at, expires_at FROM keys`,
      parameters.values,
    );
    const failures = credentialFailures(
      planned,
      rows.flatMap((row) => (row.prefix === null ? [] : [row as ApiKeyState])),
      now,
    );
    const inserted = new Set(rows.flatMap((row) => (row.id === null ? [] : [row.id])));
    // The rare path: keys that some earlier commit holds (or, for a refused request, may hold).
    const lookUp = planned.filter(
      (item) =>
        item.scope !== null &&
        !isRefused(item, failures) &&
        ((item.kind === 'new' && !inserted.has(item.message.id)) || item.kind === 'refuses-suppressed'),
    );
    const taken =
      lookUp.length === 0
        ? new Map<string, TakenKey>()
        : await this.transactions.read((manager) => this.findTakenKeys(manager, lookUp));
    return { failures, inserted, taken };
  }

  /** SQLite has one writer: check the keys and the idempotency keys, then insert, in one transaction. */
  private async commitOnSqlite(
    manager: EntityManager,
    planned: readonly Planned[],
    now: number,
  ): Promise<CommitOutcome> {
    const prefixes = keyPrefixes(planned);
    const parameters = this.transactions.parameters();
    const keys: ApiKeyState[] =
      prefixes.length === 0
        ? []
        : await manager.query(
            `SELECT prefix, revoked_at, expires_at FROM api_key
              WHERE prefix IN (${prefixes.map((prefix) => parameters.add(prefix)).join(', ')})`,
            parameters.values,
          );
    const failures = credentialFailures(planned, keys, now);
    const taken = await this.findTakenKeys(
      manager,
      planned.filter((item) => item.scope !== null && item.kind !== 'follows'),
    );
    const stored = planned.flatMap((item) =>
      item.kind === 'new' && !isRefused(item, failures) && !(item.scope && taken.has(item.scope))
        ? [item.message]
        : [],
    );
    if (stored.length > 0) {
      await insertRows(
        manager,
        this.transactions.dialect,
        'outbox_message',
        MESSAGE_COLUMNS,
        stored.map(({ row }) => row),
      );
      await insertEvents(
        manager,
        this.transactions.dialect,
        stored.flatMap(({ events }) => events),
      );
    }
    return { failures, inserted: new Set(stored.map(({ id }) => id)), taken };
  }

  /** Earlier messages holding any key of these requests, one query per source. */
  private async findTakenKeys(
    manager: EntityManager,
    requests: readonly Planned[],
  ): Promise<Map<string, TakenKey>> {
    const keysBySource = new Map<string, string[]>();
    for (const { request } of requests) {
      const { source, idempotencyKey } = request;
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

  /** A new message's row and events. */
  private newMessage(request: EnqueueRequest, contentHash: string, now: number): NewMessage {
    const id = randomUUID();
    const row = this.newRow(id, request, contentHash, now);
    const sendAt = request.sendAt ?? null;
    const events: NewEvent[] = [
      {
        messageId: id,
        source: request.source,
        type: MessageEventType.Accepted,
        attempt: 0,
        detail:
          sendAt !== null && sendAt > now
            ? `accepted; scheduled for ${new Date(sendAt).toISOString()}`
            : 'accepted',
        occurredAt: now,
      },
    ];
    for (const recipient of request.suppressed ?? []) {
      events.push({
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
      events.push({
        messageId: id,
        source: request.source,
        type: MessageEventType.Suppressed,
        attempt: 0,
        detail: 'every recipient is on the suppression list: never sent',
        occurredAt: now,
      });
    }
    return { id, acceptedAt: now, row, events };
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
    // Sealed here, in memory: the sealed columns ride in the same INSERT, no statement more.
    const sealed = this.sealer.seal(id, serializeMail(mail));
    const row: Record<(typeof MESSAGE_COLUMNS)[number], unknown> = {
      id,
      source: request.source,
      idempotency_key: request.idempotencyKey,
      content_hash: contentHash,
      payload: sealed.payload,
      content_key_id: sealed.contentKeyId,
      wrapped_data_key: sealed.wrappedDataKey,
      recipients: JSON.stringify(mailRecipients(mail)),
      sender: mailSender(mail),
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
 * What a replay must match: the mail and its send time, digested by `hash` (keyed for what is
 * stored; the unkeyed default is the form of rows stored before). A message sent at once keeps
 * the mail's own fingerprint, so keys stored before send_at existed still replay.
 */
function contentFingerprint({ mail, sendAt }: EnqueueRequest, hash?: Hmac): string {
  const fingerprint = mailFingerprint(mail, hash);
  return sendAt == null ? fingerprint : createHash('sha256').update(`${fingerprint}:${sendAt}`).digest('hex');
}

/** How each request of a group relates to the others: the first holder of a key leads it. */
function plan(drafts: readonly Draft[]): Planned[] {
  const leaders = new Map<string, Planned & { kind: 'new' }>();
  return drafts.map(({ request, contentHash, scope, message }): Planned => {
    const leader = scope ? leaders.get(scope) : undefined;
    if (leader) return { kind: 'follows', request, contentHash, scope, leader };
    if (message === null) {
      return {
        kind: 'refuses-suppressed',
        request,
        contentHash,
        scope,
        suppressed: request.suppressed ?? [],
      };
    }
    const item = { kind: 'new', request, contentHash, scope, message } as const;
    if (scope) leaders.set(scope, item);
    return item;
  });
}

/** A request's result once its commit's outcome is known; undefined to try it again. */
function resolve(item: Planned, outcome: CommitOutcome): EnqueueResult | undefined {
  const { request, scope } = item;
  const failure = request.apiKeyPrefix ? outcome.failures.get(request.apiKeyPrefix) : null;
  if (failure) return { kind: 'credential-refused', failure };
  const earlier = scope ? outcome.taken.get(scope) : undefined;
  switch (item.kind) {
    case 'new':
      if (outcome.inserted.has(item.message.id)) {
        return {
          kind: 'accepted',
          messageId: item.message.id,
          acceptedAt: item.message.acceptedAt,
          replayed: false,
          suppressedRecipients: (request.suppressed ?? []).map(({ address }) => address),
        };
      }
      return earlier && replayOrConflict(item, earlier);
    case 'follows': {
      const { leader } = item;
      if (outcome.inserted.has(leader.message.id)) {
        return replayOrConflict(item, {
          id: leader.message.id,
          contentHash: leader.contentHash,
          acceptedAt: leader.message.acceptedAt,
        });
      }
      // The leader was refused for its own API key: this request goes again, on its own.
      return earlier && replayOrConflict(item, earlier);
    }
    case 'refuses-suppressed':
      // A key that a message of this very commit took was free when the request came.
      return earlier && !outcome.inserted.has(earlier.id)
        ? replayOrConflict(item, earlier)
        : { kind: 'suppressed-refused', suppressed: item.suppressed };
  }
}

function replayOrConflict({ request, contentHash }: Planned, earlier: TakenKey): EnqueueResult {
  return earlier.contentHash === contentHash ||
    // Stored before fingerprints were keyed: the unkeyed form, computed only on a mismatch.
    earlier.contentHash === contentFingerprint(request)
    ? {
        kind: 'accepted',
        messageId: earlier.id,
        acceptedAt: earlier.acceptedAt,
        replayed: true,
        suppressedRecipients: [],
      }
    : { kind: 'idempotency-conflict', messageId: earlier.id };
}

function keyPrefixes(planned: readonly Planned[]): string[] {
  return [...new Set(planned.flatMap(({ request }) => (request.apiKeyPrefix ? [request.apiKeyPrefix] : [])))];
}

/** Each API key of the group: why it is refused at `now`, or null if it is good. */
function credentialFailures(
  planned: readonly Planned[],
  keys: readonly ApiKeyState[],
  now: number,
): Map<string, CredentialFailure | null> {
  const found = new Map(keys.map((key) => [key.prefix, key]));
  return new Map(
    keyPrefixes(planned).map((prefix): [string, CredentialFailure | null] => {
      const key = found.get(prefix);
      if (!key) return [prefix, 'unknown'];
      if (key.revoked_at !== null) return [prefix, 'revoked'];
      if (key.expires_at !== null && Number(key.expires_at) <= now) return [prefix, 'expired'];
      return [prefix, null];
    }),
  );
}

function isRefused({ request }: Planned, failures: ReadonlyMap<string, CredentialFailure | null>): boolean {
  return !!request.apiKeyPrefix && failures.get(request.apiKeyPrefix) !== null;
}

function idempotencyScope(source: string, key: string): string {
  return `${source}\u0000${key}`;
}
