import { setTimeout as sleep } from 'node:timers/promises';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import { GatewayMetrics } from '@mailgateway/observability';
import {
  applyRecipientUpdates,
  countSoftBounceStreak,
  FeedSignal,
  findFeedbackMessage,
  RecipientState,
  RecipientUpdate,
} from '@mailgateway/outbox';
import {
  ALL_SOURCES,
  ERASED_ADDRESS_HASH,
  ErasedAddressHash,
  NewSuppression,
  Suppression,
  SuppressionList,
  SuppressionReason,
} from '@mailgateway/suppression';
import type { EntityManager } from 'typeorm';
import { FeedbackConfig, feedbackConfig } from '../feedback.settings';
import { NotificationState } from '../intake/provider-notification.entity';
import type { ProviderFeedback } from '../provider-feedback';
import { recipientStateOf, suppressionReasonOf } from './feedback-outcome';

/** Notifications claimed per round. */
const BATCH_SIZE = 100;
/** A claimed notification is not due again for this long: no other replica takes it meanwhile. */
const CLAIM_LEASE_MS = 60_000;
/** An unmatched notification is tried again after 5 s, then twice as long each time, up to 10 min. */
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 600_000;
/**
 * Claims of one notification before it is set aside as unmatched when processing keeps failing
 * (a bug, data the database refuses). Waiting for a match takes far fewer: about 150 rounds in a
 * day at the 10-minute cap.
 */
const MAX_ATTEMPTS = 300;

interface ClaimedRow {
  provider: string;
  event_id: string;
  feedback: string;
  attempts: number;
  received_at: number | string;
}

/** What became of one notification. */
type Processing =
  | { readonly kind: 'processed'; readonly changed: RecipientUpdate[]; readonly suppressed: Suppression[] }
  | { readonly kind: 'waiting' }
  | { readonly kind: 'unmatched'; readonly provider: string };

/**
 * The way back, after intake: applies stored provider notifications to their messages'
 * recipients and feeds the suppression list. Every replica runs it; a claim takes due rows with
 * SKIP LOCKED on PostgreSQL, so replicas share them, and a lease keeps a claimed row from being
 * taken again while it is processed. Each notification is applied in one transaction that also
 * marks it processed; doing so twice changes nothing the second time.
 */
@Injectable()
export class FeedbackProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(FeedbackProcessor.name);
  private readonly idle = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly suppressions: SuppressionList,
    private readonly feedSignal: FeedSignal,
    @InjectConfig(feedbackConfig) private readonly config: FeedbackConfig,
    private readonly metrics: GatewayMetrics,
    /** The hash an erased address stands as in its messages (the one erasure writes with). */
    @Optional() @Inject(ERASED_ADDRESS_HASH) private readonly erasedHash?: ErasedAddressHash,
  ) {}

  onApplicationBootstrap(): void {
    this.loop ??= this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.idle.abort();
    await this.loop;
  }

  /** One round: claims up to a batch of due notifications and processes each. Returns how many it claimed. */
  async processDue(now = Date.now()): Promise<number> {
    const claimed = await this.claim(now);
    // In the providers' order, so a soft-bounce streak is counted against the deliveries that came
    // before it; a delivery reported only in a later round cannot undo a streak's suppression.
    const inOrder = claimed
      .map((row) => ({ row, feedback: parseFeedback(row.feedback) }))
      .sort((a, b) => (a.feedback?.occurredAt ?? 0) - (b.feedback?.occurredAt ?? 0));
    for (const { row, feedback } of inOrder) {
      try {
        const processing = await this.transactions.run((manager) =>
          feedback === null ? this.setAside(manager, row, now) : this.process(manager, row, feedback, now),
        );
        this.report(processing);
      } catch (error) {
        // The lease runs out and the notification is tried again, up to MAX_ATTEMPTS claims.
        this.logger.warn(
          `Notification ${row.provider}:${row.event_id}: processing failed (claim ${row.attempts}): ${describe(error)}`,
        );
        if (row.attempts >= MAX_ATTEMPTS) await this.giveUp(row, now);
      }
    }
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.idle.signal.aborted) {
      let claimed = 0;
      try {
        claimed = await this.processDue();
      } catch (error) {
        this.logger.warn(`Claiming provider notifications failed: ${describe(error)}`);
      }
      if (claimed < BATCH_SIZE) {
        await sleep(this.config.processing.processIntervalMs, undefined, { signal: this.idle.signal }).catch(
          () => undefined,
        );
      }
    }
  }

  private claim(now: number): Promise<ClaimedRow[]> {
    const { dialect } = this.transactions;
    const parameters = this.transactions.parameters();
    const skipLocked = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return this.transactions.run((manager) =>
      runStatement<ClaimedRow>(
        manager,
        `UPDATE provider_notification
            SET attempts = attempts + 1, next_attempt_at = ${parameters.add(now + CLAIM_LEASE_MS)}
          WHERE (provider, event_id) IN (
                SELECT provider, event_id FROM provider_notification
                 WHERE state = ${parameters.add(NotificationState.Pending)}
                   AND next_attempt_at <= ${parameters.add(now)}
                 ORDER BY next_attempt_at
                 LIMIT ${parameters.add(BATCH_SIZE)}${skipLocked})
      RETURNING provider, event_id, feedback, attempts, received_at`,
        parameters.values,
      ),
    );
  }

  private async process(
    manager: EntityManager,
    row: ClaimedRow,
    feedback: ProviderFeedback,
    now: number,
  ): Promise<Processing> {
    const { dialect } = this.transactions;
    const message = await findFeedbackMessage(manager, dialect, feedback);
    const plain = feedback.recipient.toLowerCase();
    // An erased recipient stands as its hash in the message: feedback that arrives after the
    // erasure names the plain address, and is applied to (and suppresses) the hash instead.
    const hash = this.erasedHash?.hash(plain);
    const erased =
      message !== null && !message.recipients.includes(plain) && hash !== undefined
        ? message.recipients.includes(hash)
        : false;
    const recipient = erased ? hash! : plain;
    const redact = (text: string) => (erased ? replaceAddress(text, plain, hash!) : text);
    if (message === null || !message.recipients.includes(recipient)) {
      // Before its delivery recorded the provider's id, a notification matches nothing yet.
      if (message === null && Number(row.received_at) + this.config.processing.matchWindowMs > now) {
        await this.setState(manager, row, NotificationState.Pending, null, now + retryDelay(row.attempts));
        return { kind: 'waiting' };
      }
      await this.setState(manager, row, NotificationState.Unmatched, message?.id ?? null, now);
      return { kind: 'unmatched', provider: row.provider };
    }

    const state = recipientStateOf(feedback);
    const changed = await applyRecipientUpdates(manager, dialect, [
      {
        messageId: message.id,
        source: message.source,
        address: recipient,
        state,
        detail: redact(feedback.detail),
        occurredAt: feedback.occurredAt,
        provider: feedback.provider,
      },
    ]);
    const reason = await this.suppressionReason(manager, feedback, state, recipient, changed.length > 0);
    const suppressed =
      reason === null
        ? []
        : await this.suppressions.add(manager, [
            {
              address: recipient,
              scope: ALL_SOURCES,
              reason,
              origin: redact(`${feedback.provider}:${feedback.eventId} (message ${message.id})`),
              expiresAt: null,
            } satisfies NewSuppression,
          ]);
    await this.setState(manager, row, NotificationState.Processed, message.id, now);
    if (erased) await this.redactNotification(manager, row, plain, hash!);
    return { kind: 'processed', changed, suppressed };
  }

  /** Processing failed on every claim: kept for the record, never applied, counted as unmatched. */
  private async giveUp(row: ClaimedRow, now: number): Promise<void> {
    try {
      await this.transactions.run((manager) =>
        this.setState(manager, row, NotificationState.Unmatched, null, now),
      );
      this.logger.error(
        `Notification ${row.provider}:${row.event_id}: failed on ${row.attempts} claims; set aside as unmatched`,
      );
      this.report({ kind: 'unmatched', provider: row.provider });
    } catch {
      // Still failing (the database is away): the next claim tries again.
    }
  }

  /** Intake stored something it could not have: kept for the record, never applied. */
  private async setAside(manager: EntityManager, row: ClaimedRow, now: number): Promise<Processing> {
    this.logger.error(
      `Notification ${row.provider}:${row.event_id}: stored feedback is not readable; set aside as unmatched`,
    );
    await this.setState(manager, row, NotificationState.Unmatched, null, now);
    return { kind: 'unmatched', provider: row.provider };
  }

  /** The notification's own reason, or a soft bounce that completes a streak. */
  private async suppressionReason(
    manager: EntityManager,
    feedback: ProviderFeedback,
    state: RecipientState,
    address: string,
    changed: boolean,
  ): Promise<SuppressionReason | null> {
    const reason = suppressionReasonOf(state, feedback.dropReason);
    if (reason !== null) return reason;
    const { softBounceLimit } = this.config.processing;
    if (state !== RecipientState.BouncedSoft || !changed || softBounceLimit === 0) return null;
    // Two replicas counting one address's streak at once would each miss the other's bounce.
    if (this.transactions.dialect === 'postgres') {
      await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`soft-bounce-streak:${address}`]);
    }
    const streak = await countSoftBounceStreak(manager, this.transactions.dialect, address, softBounceLimit);
    return streak >= softBounceLimit ? SuppressionReason.SoftBounces : null;
  }

  private async setState(
    manager: EntityManager,
    row: ClaimedRow,
    state: NotificationState,
    messageId: string | null,
    at: number,
  ): Promise<void> {
    const parameters = this.transactions.parameters();
    const processedAt = state === NotificationState.Pending ? null : at;
    await runStatement(
      manager,
      `UPDATE provider_notification
          SET state = ${parameters.add(state)}, message_id = ${parameters.add(messageId)},
              next_attempt_at = ${parameters.add(at)}, processed_at = ${parameters.add(processedAt)}
        WHERE provider = ${parameters.add(row.provider)} AND event_id = ${parameters.add(row.event_id)}`,
      parameters.values,
    );
  }

  /**
   * The stored notification of an erased recipient keeps the hash, not the address, as erasure
   * leaves the ones it found: in its feedback, and an event id naming it becomes the hash of the id.
   */
  private async redactNotification(
    manager: EntityManager,
    row: ClaimedRow,
    address: string,
    hash: string,
  ): Promise<void> {
    const feedback = replaceAddress(row.feedback, address, hash);
    const eventId = row.event_id.toLowerCase().includes(address)
      ? this.erasedHash!.hash(row.event_id)
      : row.event_id;
    const parameters = this.transactions.parameters();
    await runStatement(
      manager,
      `UPDATE provider_notification SET feedback = ${parameters.add(feedback)}, event_id = ${parameters.add(eventId)}
        WHERE provider = ${parameters.add(row.provider)} AND event_id = ${parameters.add(row.event_id)}`,
      parameters.values,
    );
  }

  /** After the commit: wake the feed's readers and count what changed. */
  private report(processing: Processing): void {
    if (processing.kind === 'waiting') return;
    if (processing.kind === 'unmatched') {
      this.metrics.feedbackUnmatched.inc({ provider: processing.provider });
      return;
    }
    this.feedSignal.published(processing.changed.map(({ source }) => source));
    for (const { source, provider, state } of processing.changed) {
      const labels = { source, provider: provider ?? 'none' };
      if (state === RecipientState.Complained) this.metrics.recipientComplaints.inc(labels);
      const bounceClass = BOUNCE_CLASS[state];
      if (bounceClass) this.metrics.recipientBounces.inc({ ...labels, class: bounceClass });
    }
    for (const { reason } of processing.suppressed) this.metrics.suppressionsAdded.inc({ reason });
  }
}

const BOUNCE_CLASS: Partial<Record<RecipientState, string>> = {
  [RecipientState.BouncedHard]: 'hard',
  [RecipientState.BouncedSoft]: 'soft',
  [RecipientState.BouncedUndetermined]: 'undetermined',
};

/** `text` with every occurrence of `address` (any case) replaced by `hash`. */
function replaceAddress(text: string, address: string, hash: string): string {
  return text.replace(new RegExp(address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), hash);
}

function retryDelay(attempts: number): number {
  return Math.min(RETRY_FIRST_MS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_MS);
}

function parseFeedback(json: string): ProviderFeedback | null {
  try {
    const feedback = JSON.parse(json) as ProviderFeedback;
    return typeof feedback.recipient === 'string' && typeof feedback.occurredAt === 'number'
      ? feedback
      : null;
  } catch {
    return null;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
