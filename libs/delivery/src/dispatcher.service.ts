import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { DeliveryTelemetry, GatewayMetrics } from '@mailgateway/observability';
import {
  ClaimedMessage,
  MessageStatus,
  OutboxLeases,
  recipientAddresses,
  recipientCount,
  withoutRecipients,
} from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { DeliveryOutcome, MailDriver } from './drivers/mail-driver.interface';
import { ReadyClaim, ReadyQueue } from './ready-queue';
import { RetryPolicy, Settlement } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';

/**
 * The delivery loop: claims due messages from the outbox in batches (more than the free slots,
 * the rest waiting in a ready queue under their lease), reads the suppression list once per
 * batch, sends each message through the driver outside any transaction, and records every
 * attempt. It meets the accept path only at the outbox table.
 */
@Injectable()
export class Dispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(Dispatcher.name);
  /** Attempts started and not yet recorded: each holds a slot. */
  private readonly inFlight = new Map<string, { claim: ClaimedMessage; done: Promise<void> }>();
  private readonly ready: ReadyQueue;
  /** Hand-backs of claims never started, awaited at shutdown. */
  private readonly handingBack = new Set<Promise<void>>();
  /** Wakes the loop when a slot frees (it waits for that while enough claims are ready). */
  private wakeLoop: (() => void) | null = null;
  private readonly abort = new AbortController();
  private readonly idle = new AbortController();
  /** Resolves when stop() is called: wakes the loop wherever it waits. */
  private readonly stopRequested = new Promise<void>((resolve) =>
    this.idle.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  private loop: Promise<void> | null = null;
  private stopping = false;
  private stopped: Promise<void> = Promise.resolve();

  constructor(
    private readonly outbox: OutboxLeases,
    private readonly routes: DeliveryRoutes,
    private readonly retryPolicy: RetryPolicy,
    @InjectConfig(deliveryConfig) private readonly config: DeliveryConfig,
    private readonly telemetry: DeliveryTelemetry,
    private readonly suppressions: SuppressionList,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {
    // Every in-flight send listens to this one signal; that many listeners is by design, not a leak.
    setMaxListeners(this.config.concurrency * 4 + 10, this.abort.signal);
    this.ready = new ReadyQueue(this.config.claimBatch, this.config.concurrency, this.config.leaseMs);
  }

  onApplicationBootstrap(): void {
    if (this.config.enabled) this.start();
  }

  /**
   * The app's shutdown stops the loop first, with its share of the deadline (closeGatewayApp);
   * this is the backstop when a module is closed without it: unfinished claims go back at once.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stop(0);
  }

  start(): void {
    this.loop ??= this.run();
    const [primary, fallback] = this.routes.drivers.defaultChain;
    const then = fallback
      ? `, then "${fallback.name}" after ${this.config.fallbackAfterFailures} failures`
      : '';
    const others = this.routes.drivers.names.filter(
      (name) => name !== primary.name && name !== fallback?.name,
    );
    const routable = others.length > 0 ? `; sources may also route to ${others.join(', ')}` : '';
    this.logger.log(
      `Delivering with driver "${primary.name}"${then}${routable}, ${this.config.concurrency} at a time, claiming up to ${this.config.claimBatch} ahead`,
    );
  }

  /**
   * Stops claiming, hands back at once the claims not started, lets in-flight deliveries finish
   * within `drainMs`, then aborts the rest and hands their claims back so another process can
   * take them at once.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.stopped = this.drain(drainMs);
    return this.stopped;
  }

  private async drain(drainMs: number): Promise<void> {
    this.idle.abort();
    await this.loop;
    this.handBackReady('released at shutdown, not started');
    const drained = Promise.allSettled([...this.inFlight.values()].map(({ done }) => done));
    const timedOut = await Promise.race([drained.then(() => false), sleep(drainMs, true, { ref: false })]);
    if (timedOut) {
      this.abort.abort();
      const unfinished = [...this.inFlight.values()].map(({ claim }) => claim);
      await Promise.allSettled(unfinished.map((claim) => this.outbox.release(claim, 'released at shutdown')));
      this.logger.warn(`Released ${unfinished.length} unfinished deliveries at shutdown`);
    }
    await Promise.allSettled([...this.handingBack]);
  }

  private async run(): Promise<void> {
    const { leaseMs, pollIntervalMs } = this.config;
    while (!this.stopping) {
      const wanted = this.ready.wanted(Date.now());
      if (wanted === 0) {
        // Enough claims wait for slots: wait for one to free up, or for stop(), whichever is first.
        await Promise.race([new Promise<void>((resolve) => (this.wakeLoop = resolve)), this.stopRequested]);
        continue;
      }
      let claims: ClaimedMessage[] = [];
      try {
        claims = await this.outbox.claimDue(wanted, leaseMs, this.overdueInFlight());
      } catch (error) {
        this.logger.warn(`Claiming due messages failed: ${describe(error)}`);
        this.handBackReady('not started: the outbox failed to claim');
      }
      if (claims.length > 0) {
        this.ready.push(await this.withSuppressions(claims));
        this.startReady();
      }
      if (claims.length < wanted) await this.pause(pollIntervalMs);
    }
  }

  /**
   * Attempts under way here whose lease ran out (a slow provider, a paused process): any other
   * process may claim them, but this one must not, or it would send the message twice itself.
   */
  private overdueInFlight(): string[] {
    const now = Date.now();
    return [...this.inFlight.values()]
      .filter(({ claim }) => claim.leasedUntil <= now)
      .map(({ claim }) => claim.id);
  }

  /**
   * The suppression list, read once for the whole batch when it is claimed (the attempts are
   * due): an address suppressed since the accept is left out of this attempt, and with none left
   * the message ends SUPPRESSED unsent.
   */
  private async withSuppressions(claims: readonly ClaimedMessage[]): Promise<ReadyClaim[]> {
    try {
      const found = await this.suppressions.findEach(
        claims.map((claim) => ({ source: claim.source, addresses: recipientAddresses(claim.mail) })),
      );
      return claims.map((claim, index) => ({
        claim,
        suppressed: [...found[index].values()].map(({ address, reason, scope }) => ({
          address,
          reason,
          scope,
        })),
      }));
    } catch (error) {
      const unread = `suppression list not read: ${describe(error)}`;
      return claims.map((claim) => ({ claim, suppressed: { unread } }));
    }
  }

  /** Starts ready claims in the free slots; those whose lease is half gone go back unsent. */
  private startReady(): void {
    const stale: ClaimedMessage[] = [];
    while (!this.stopping && this.inFlight.size < this.config.concurrency) {
      const next = this.ready.next(Date.now());
      stale.push(...next.stale);
      if (!next.start) break;
      this.track(next.start);
    }
    if (stale.length > 0) {
      this.handBack(stale, 'handed back unsent: half its lease went by before a delivery slot was free');
    }
  }

  /**
   * Hands back, unsent, every claim waiting for a slot: at shutdown, and after a fault of the
   * outbox. After a fault an outcome sent now might not be recorded either (each such send goes
   * out twice), and a failover to a standby may have lost their leases, so the new primary hands
   * them out again. Sends already under way are all that may go out twice.
   */
  private handBackReady(reason: string): void {
    const waiting = this.ready.drain();
    if (waiting.length > 0) this.handBack(waiting, reason);
  }

  private handBack(claims: readonly ClaimedMessage[], reason: string): void {
    const handing = this.outbox.releaseUnstarted(claims, reason).then(
      (applied) => {
        const count = applied.filter(Boolean).length;
        this.logger.warn(`Handed back ${count} claimed messages not started (${reason})`);
      },
      (error: unknown) => {
        // Their leases run out and any process claims them again: nothing is lost, nothing was sent.
        this.logger.warn(`Handing back ${claims.length} claimed messages failed: ${describe(error)}`);
      },
    );
    this.handingBack.add(handing);
    void handing.finally(() => this.handingBack.delete(handing));
  }

  private track(ready: ReadyClaim): void {
    const { claim } = ready;
    const done = this.attempt(ready).finally(() => {
      this.inFlight.delete(claim.id);
      this.startReady();
      this.wakeLoop?.();
      this.wakeLoop = null;
    });
    this.inFlight.set(claim.id, { claim, done });
  }

  /** One attempt, traced in the message's trace: the provider request and the outcome's recording. */
  private attempt(ready: ReadyClaim): Promise<void> {
    const { id: messageId, source, attempt, traceparent } = ready.claim;
    return this.telemetry.traced({ messageId, source, attempt, traceparent }, () => this.deliver(ready));
  }

  private async deliver({ claim, suppressed }: ReadyClaim): Promise<void> {
    const startedAt = performance.now();
    const settlement =
      claim.expiresAt <= Date.now()
        ? this.retryPolicy.expire(claim)
        : await this.sendAndSettle(claim, suppressed);
    if (this.abort.signal.aborted) return; // stop() has released the claim
    try {
      const recorded = await this.outbox.complete(claim, settlement.outcome, settlement.detail);
      this.report(claim, settlement, startedAt, recorded);
      if (!recorded) {
        this.logger.warn(
          `Message ${claim.id} attempt ${claim.attempt}: outcome dropped, a newer claim owns it`,
        );
      }
    } catch (error) {
      this.report(claim, settlement, startedAt, false);
      // The lease runs out and another attempt follows: nothing is lost, at worst sent twice.
      this.logger.error(`Message ${claim.id} attempt ${claim.attempt}: recording failed: ${describe(error)}`);
      this.handBackReady('not started: the outbox failed to record an outcome');
    }
  }

  /** Sends to the recipients not suppressed at claim; with none left, the message ends SUPPRESSED. */
  private async sendAndSettle(
    claim: ClaimedMessage,
    suppressed: ReadyClaim['suppressed'],
  ): Promise<Settlement> {
    const driver = await this.routes.driverFor(claim.source, claim.attempt);
    if ('unread' in suppressed) {
      // Not knowing whom not to send to is the gateway's fault: try again later, not counted.
      return this.retryPolicy.settle(
        claim,
        { kind: 'retry', reason: suppressed.unread, sparesAttempt: true },
        driver.name,
        Date.now(),
      );
    }
    if (suppressed.length === 0) {
      return this.retryPolicy.settle(claim, await this.send(driver, claim), driver.name, Date.now());
    }
    this.metrics?.suppressedRecipients.inc({ source: claim.source, stage: 'claim' }, suppressed.length);
    const mail = withoutRecipients(claim.mail, new Set(suppressed.map(({ address }) => address)));
    if (recipientCount(mail) === 0) {
      return {
        outcome: { status: MessageStatus.Suppressed, provider: null, suppressedRecipients: suppressed },
        detail: `suppressed: all ${suppressed.length} recipients are on the suppression list; not sent`,
      };
    }
    const settlement = this.retryPolicy.settle(
      claim,
      await this.send(driver, { ...claim, mail }),
      driver.name,
      Date.now(),
    );
    return { ...settlement, outcome: { ...settlement.outcome, suppressedRecipients: suppressed } };
  }

  private async send(driver: MailDriver, claim: ClaimedMessage): Promise<DeliveryOutcome> {
    try {
      const message = { id: claim.id, attempt: claim.attempt, idempotencyKey: claim.id, mail: claim.mail };
      return await driver.send(message, this.abort.signal);
    } catch (error) {
      return { kind: 'retry', reason: `driver error: ${describe(error)}` };
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.idle.signal }).catch(() => undefined);
  }

  private report(claim: ClaimedMessage, settlement: Settlement, startedAt: number, recorded: boolean): void {
    this.telemetry.attemptFinished({
      messageId: claim.id,
      source: claim.source,
      attempt: claim.attempt,
      provider: settlement.outcome.provider,
      outcome: settlement.outcome.status,
      detail: settlement.detail,
      durationMs: performance.now() - startedAt,
      acceptedAt: claim.acceptedAt,
      recorded,
    });
  }
}

/** The error's message, and what it stands for (a storage fault's driver error, say). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}
