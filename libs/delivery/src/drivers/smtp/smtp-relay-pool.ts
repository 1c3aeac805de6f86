import { setMaxListeners } from 'node:events';
import { Logger } from '@nestjs/common';
import {
  ConnectionSlots,
  UpstreamAddresses,
  UpstreamOutcomeUnknownException,
  UpstreamUnavailableException,
} from '../../upstream';
import { SmtpAuthenticationException } from './smtp-authentication.exception';
import {
  RelayConnection,
  RelayEnvelope,
  RelayOpenError,
  RelaySessionOptions,
  TransactionResult,
} from './smtp-relay-connection';

export interface RelayPoolOptions extends RelaySessionOptions {
  readonly maxMessagesPerConnection: number;
  /** An idle connection is closed (QUIT) after this long. */
  readonly idleTimeoutMs: number;
  /** A connection this old is closed after its transaction, so traffic spreads over the addresses again. */
  readonly maxConnectionAgeMs: number;
}

/** The relay's answer to one message: taken (maybe not by every recipient), or refused with a reply. */
export type RelayAnswer = Exclude<TransactionResult, { kind: 'broken' }> & { readonly address: string };

interface Waiter {
  readonly serve: (connection: RelayConnection) => void;
  readonly fail: (error: Error) => void;
}

/**
 * Keep-alive SMTP connections to one relay, reused message after message. Every connection
 * takes a slot of the host's ConnectionSlots before it opens and gives it back when its socket
 * closes, so the cap on connections to the host holds across every transport that dials it.
 *
 * A new connection goes to the next healthy address of the relay; while one cannot be opened
 * (refused, black-holed, no greeting, a 421 greeting, TLS refused) the next one is tried and the
 * failing one cools down. A message moves to another connection only while the relay cannot have
 * taken it: a connection that breaks before the final dot of DATA. After the final dot a broken
 * connection or a timeout leaves the outcome unknown, and the message is not sent again here.
 */
export class SmtpRelayPool {
  private readonly logger = new Logger(SmtpRelayPool.name);
  private readonly idle: RelayConnection[] = [];
  private readonly idleTimers = new Map<RelayConnection, NodeJS.Timeout>();
  private readonly busy = new Set<RelayConnection>();
  private readonly waiting: Waiter[] = [];
  /** Connections being opened (or waiting for a slot to open in). */
  private opening = 0;
  private closed = false;
  /** Aborts connections still being opened when the pool closes. */
  private readonly closing = new AbortController();

  constructor(
    private readonly addresses: UpstreamAddresses,
    private readonly slots: ConnectionSlots,
    private readonly options: RelayPoolOptions,
  ) {
    // One listener per connection being opened, as many as the host's cap allows: not a leak.
    setMaxListeners(0, this.closing.signal);
  }

  get hostname(): string {
    return this.addresses.hostname;
  }

  /**
   * Hands the message to the relay. Resolves with the relay's answer; rejects with
   * UpstreamUnavailableException (certainly not taken), UpstreamOutcomeUnknownException (the
   * connection failed after the final dot), SmtpAuthenticationException, or the abort reason.
   */
  async send(envelope: RelayEnvelope, raw: Buffer, signal: AbortSignal): Promise<RelayAnswer> {
    await this.addresses.ensureResolved();
    let lastProblem = '';
    // A connection per address at most, and one more for a pooled connection found dead.
    for (let handovers = 0; handovers <= this.addresses.size; handovers++) {
      const connection = await this.checkout(signal);
      this.addresses.sent(connection.address);
      let result: TransactionResult;
      try {
        result = await connection.send(envelope, raw, signal);
      } finally {
        this.busy.delete(connection);
      }
      if (result.kind !== 'broken') {
        this.addresses.answered(connection.address);
        this.addresses.requestAnswered(connection.address, 'success');
        void this.checkin(connection, result.kind === 'refused' ? result.error.responseCode : undefined);
        return { ...result, address: connection.address };
      }
      connection.destroy();
      this.addresses.failed(connection.address, result.timedOut ? 'timeout' : 'error');
      const problem = `${connection.address}: ${result.problem}`;
      if (result.afterFinalDot) {
        throw new UpstreamOutcomeUnknownException(
          `${this.hostname} at ${problem}, after the final dot; the relay may have taken the message`,
        );
      }
      this.addresses.failedOver(connection.address);
      this.logger.warn(`SMTP relay ${this.hostname} at ${problem}, before the end of DATA; trying again`);
      lastProblem = problem;
    }
    throw new UpstreamUnavailableException(
      `${this.hostname}: the message was not taken on any connection (last: ${lastProblem})`,
    );
  }

  /** Closes idle connections to addresses no longer in DNS (busy ones close after their message). */
  retireRemovedAddresses(): void {
    for (const connection of [...this.idle]) {
      if (!this.addresses.has(connection.address)) this.dropIdle(connection, 'quit');
    }
  }

  /** QUITs idle connections, cuts busy ones, and refuses every waiting and later message. */
  close(): void {
    this.closed = true;
    this.closing.abort(this.closedError());
    for (const waiter of [...this.waiting]) waiter.fail(this.closedError());
    for (const connection of [...this.idle]) this.dropIdle(connection, 'quit');
    for (const connection of this.busy) connection.destroy();
    this.busy.clear();
  }

  /**
   * An idle connection, or else the first to become free: one a message finished with, or one
   * opened for the waiting messages (never more opening than are waiting).
   */
  private checkout(signal: AbortSignal): Promise<RelayConnection> {
    if (this.closed) return Promise.reject(this.closedError());
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const idle = this.takeIdle();
    if (idle) return Promise.resolve(this.lend(idle));
    return new Promise((resolve, reject) => {
      const leave = () => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        signal.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        serve: (connection) => {
          leave();
          resolve(this.lend(connection));
        },
        fail: (error) => {
          leave();
          reject(error);
        },
      };
      const onAbort = () => waiter.fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.openForEveryWaiting();
    });
  }

  private openForEveryWaiting(): void {
    while (!this.closed && this.opening < this.waiting.length) void this.openForWaiting();
  }

  /** Takes a slot and opens a connection for the first waiting message, if one still waits then. */
  private async openForWaiting(): Promise<void> {
    this.opening++;
    let release: () => void;
    try {
      release = await this.slots.acquire();
    } catch (error) {
      this.opening--;
      this.waiting[0]?.fail(error as Error);
      return;
    }
    // Connections handed back meanwhile may have served the messages this one was for.
    if (this.closed || this.waiting.length < this.opening) {
      this.opening--;
      release();
      return;
    }
    let connection: RelayConnection;
    try {
      connection = await this.open(release);
    } catch (error) {
      this.opening--;
      this.waiting[0]?.fail(error as Error);
      return;
    }
    this.opening--;
    void this.checkin(connection);
  }

  /** Opens a connection in the slot `release` gives back, moving on while addresses fail. */
  private async open(release: () => void): Promise<RelayConnection> {
    const tried = new Set<string>();
    let lastProblem = 'no address known';
    for (;;) {
      const address = this.addresses.pick(tried);
      if (!address) {
        release();
        throw new UpstreamUnavailableException(
          `${this.hostname}: no address accepted a connection (${tried.size} tried of ${this.addresses.size}; last: ${lastProblem})`,
        );
      }
      tried.add(address);
      try {
        const connection = await RelayConnection.open(address, this.options, release, this.closing.signal);
        this.addresses.answered(address);
        return connection;
      } catch (error) {
        if (!(error instanceof RelayOpenError)) {
          release();
          throw error;
        }
        const failure = error;
        if (failure.authentication) {
          // The relay answered; another address would refuse the same credentials.
          this.addresses.answered(address);
          release();
          throw new SmtpAuthenticationException(`${this.hostname} at ${address}: ${failure.message}`);
        }
        this.addresses.failed(address, failure.timedOut ? 'timeout' : 'connect_error');
        this.addresses.failedOver(address);
        lastProblem = `${address}: ${failure.message}`;
        this.logger.warn(`SMTP relay ${this.hostname} at ${lastProblem}`);
      }
    }
  }

  private lend(connection: RelayConnection): RelayConnection {
    this.busy.add(connection);
    return connection;
  }

  /**
   * Back from a transaction: to the next waiting message, or idle; closed instead when it is
   * spent, old, refused with 421, cannot be reset, or its address left DNS.
   */
  private async checkin(connection: RelayConnection, refusedWith?: number): Promise<void> {
    const reusable = refusedWith !== 421 && (refusedWith === undefined || (await connection.reset()));
    const spent =
      connection.transactions >= this.options.maxMessagesPerConnection ||
      Date.now() - connection.openedAt >= this.options.maxConnectionAgeMs ||
      !this.addresses.has(connection.address);
    if (this.closed || !reusable || !connection.usable || spent) {
      if (reusable) connection.quit();
      else connection.destroy();
      // Messages that waited for this connection get one of their own.
      this.openForEveryWaiting();
      return;
    }
    const waiter = this.waiting[0];
    if (waiter) return waiter.serve(connection);
    this.idle.push(connection);
    connection.onBroken(() => this.dropIdle(connection, 'destroy'));
    const timer = setTimeout(() => this.dropIdle(connection, 'quit'), this.options.idleTimeoutMs);
    timer.unref();
    this.idleTimers.set(connection, timer);
  }

  /** The most recently used idle connection that still works; the others time out first. */
  private takeIdle(): RelayConnection | undefined {
    for (let connection = this.idle.at(-1); connection; connection = this.idle.at(-1)) {
      this.forgetIdle(connection);
      if (connection.usable) return connection;
      connection.destroy();
    }
    return undefined;
  }

  private dropIdle(connection: RelayConnection, how: 'quit' | 'destroy'): void {
    if (!this.forgetIdle(connection)) return;
    if (how === 'quit') connection.quit();
    else connection.destroy();
  }

  private forgetIdle(connection: RelayConnection): boolean {
    const index = this.idle.indexOf(connection);
    if (index < 0) return false;
    this.idle.splice(index, 1);
    clearTimeout(this.idleTimers.get(connection));
    this.idleTimers.delete(connection);
    connection.onBroken(null);
    return true;
  }

  private closedError(): Error {
    return new UpstreamUnavailableException(`${this.hostname}: the SMTP relay pool is closed`);
  }
}
