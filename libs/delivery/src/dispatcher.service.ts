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
  SuppressedRecipient,
  withoutRecipients,
} from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { DeliveryOutcome, MailDriver } from './drivers/mail-driver.interface';
import { RetryPolicy, Settlement } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';

/**
 * The delivery loop: claims due messages from the outbox, sends each through the driver outside
 * any transaction, and records every attempt. It meets the accept path only at the outbox table.
 */
@Injectable()
export class Dispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(Dispatcher.name);
  private readonly inFlight = new Map<string, { claim: ClaimedMessage; done: Promise<void> }>();
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
      `Delivering with driver "${primary.name}"${then}${routable}, ${this.config.concurrency} at a time`,
    );
  }

  /**
   * Stops claiming, lets in-flight deliveries finish within `drainMs`, then aborts the rest and
   * hands their claims back so another process can take them at once.
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
    const drained = Promise.allSettled([...this.inFlight.values()].map(({ done }) => done));
    const timedOut = await Promise.race([drained.then(() => false), sleep(drainMs, true, { ref: false })]);
    if (!timedOut) return;
    this.abort.abort();
    const unfinished = [...this.inFlight.values()].map(({ claim }) => claim);
    await Promise.allSettled(unfinished.map((claim) => this.outbox.release(claim, 'released at shutdown')));
    this.logger.warn(`Released ${unfinished.length} unfinished deliveries at shutdown`);
  }

  private async run(): Promise<void> {
    const { concurrency, leaseMs, pollIntervalMs } = this.config;
    while (!this.stopping) {
      const free = concurrency - this.inFlight.size;
      if (free === 0) {
        // Every slot is busy: wait for one to free up, or for stop(), whichever comes first.
        await Promise.race([...[...this.inFlight.values()].map(({ done }) => done), this.stopRequested]);
        continue;
      }
      let claims: ClaimedMessage[] = [];
      try {
        claims = await this.outbox.claimDue(free, leaseMs);
      } catch (error) {
        this.logger.warn(`Claiming due messages failed: ${describe(error)}`);
      }
      for (const claim of claims) this.track(claim);
      if (claims.length < free) await this.pause(pollIntervalMs);
    }
  }

  private track(claim: ClaimedMessage): void {
    const done = this.attempt(claim).finally(() => this.inFlight.delete(claim.id));
    this.inFlight.set(claim.id, { claim, done });
  }

  /** One attempt, traced in the message's trace: the provider request and the outcome's recording. */
  private attempt(claim: ClaimedMessage): Promise<void> {
    const { id: messageId, source, attempt, traceparent } = claim;
    return this.telemetry.traced({ messageId, source, attempt, traceparent }, () => this.deliver(claim));
  }

  private async deliver(claim: ClaimedMessage): Promise<void> {
    const startedAt = performance.now();
    const settlement =
      claim.expiresAt <= Date.now() ? this.retryPolicy.expire(claim) : await this.sendAndSettle(claim);
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
    }
  }

  /**
   * The suppression list is read again when the attempt is due: an address suppressed since the
   * accept is left out of this attempt, and with none left the message ends SUPPRESSED unsent.
   */
  private async sendAndSettle(claim: ClaimedMessage): Promise<Settlement> {
    const driver = await this.routes.driverFor(claim.source, claim.attempt);
    let suppressed: SuppressedRecipient[];
    try {
      suppressed = await this.findSuppressed(claim);
    } catch (error) {
      // Not knowing whom not to send to is the gateway's fault: try again later, not counted.
      const reason = `suppression list not read: ${describe(error)}`;
      return this.retryPolicy.settle(
        claim,
        { kind: 'retry', reason, sparesAttempt: true },
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

  private async findSuppressed(claim: ClaimedMessage): Promise<SuppressedRecipient[]> {
    const found = await this.suppressions.find(claim.source, recipientAddresses(claim.mail));
    return [...found.values()].map(({ address, reason, scope }) => ({ address, reason, scope }));
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
