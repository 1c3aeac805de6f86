import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Logger } from '@nestjs/common';
import type { GatewayMetrics } from '@mailgateway/observability';
import { buildConnector, errors, Pool } from 'undici';
import { AddressBook, AddressStatistics } from './address-book';
import { isLocalAddress } from './local-addresses';
import { ConnectionAdmission } from './connection-admission';
import type { ConnectionSlots } from './connection-slots';
import type { HostResolver } from './host-resolver';
import { UpstreamOutcomeUnknownException } from './upstream-outcome-unknown.exception';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';
import type { UpstreamConfig } from './upstream.settings';
import type { UpstreamHttpClient, UpstreamRequest, UpstreamResponse } from './upstream.types';

/** Marks errors raised while a connection was being opened: the request never left. */
const CONNECT_PHASE = Symbol('connect-phase');

/** Waits for the upstream's message rate to allow one more request (UpstreamRegistry.messagePermit). */
export type MessagePermit = (signal?: AbortSignal) => Promise<void>;

/** What undici publishes about each request on its diagnostics channels. */
interface UndiciRequest {
  readonly origin?: string | URL;
}

/**
 * A keep-alive connection pool to one upstream host with a hard cap on connections. Each new
 * connection goes to the next healthy address of the host; if it cannot be opened (refused,
 * timed out, TLS refused) the next address is tried, and the failing one cools down for a growing
 * while before it is probed again. TLS is verified against the hostname whichever IP is used.
 */
export class UpstreamClient implements UpstreamHttpClient {
  private readonly logger = new Logger(UpstreamClient.name);
  private readonly url: URL;
  private readonly hostname: string;
  private readonly addresses: AddressBook;
  private readonly connectToAddress: buildConnector.connector;
  private readonly requestAddresses = new WeakMap<object, string>();
  private readonly unsubscribers: (() => void)[] = [];
  private readonly admission: ConnectionAdmission;
  private pool: Pool;
  private resolved: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly origin: string,
    private readonly config: UpstreamConfig,
    private readonly resolver: HostResolver,
    connectionSlots: ConnectionSlots,
    private readonly metrics?: GatewayMetrics,
    private readonly messagePermit: MessagePermit = async () => undefined,
  ) {
    this.url = new URL(origin);
    this.hostname = this.url.hostname.replace(/^\[|\]$/g, '');
    this.admission = new ConnectionAdmission(connectionSlots, this.hostname, config.budget.maxWaitMs);
    this.addresses = new AddressBook(config.cooldownMs, config.maxCooldownMs);
    this.connectToAddress = buildConnector({
      timeout: config.connectTimeoutMs,
      // Extra CAs are added to the system ones; verification itself cannot be turned off.
      ca: config.caFile ? [...rootCertificates, readFileSync(config.caFile, 'utf8')] : undefined,
      rejectUnauthorized: true,
    });
    this.pool = this.createPool();
    this.observeRequests();
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    await this.ensureResolved();
    // A repeat is allowed only when harmless, and at most once per address.
    for (let sent = 1; ; sent++) {
      // Each request is one message to the host's fleet-wide rate, and needs a connection to go on.
      await this.messagePermit(request.signal);
      const admitted = await this.admission.admit(request.signal);
      try {
        return await this.send(request);
      } catch (error) {
        if (request.signal?.aborted) throw error;
        if (isConnectPhase(error))
          throw new UpstreamUnavailableException(`${this.hostname}: ${describe(error)}`);
        const problem = `${this.hostname}: the connection failed after the request was sent (${describe(error)})`;
        if (request.idempotent && sent < this.addresses.size) {
          this.logger.warn(`${problem}; sending it again, which the request allows`);
          continue;
        }
        throw new UpstreamOutcomeUnknownException(`${problem}; the provider may have accepted it`);
      } finally {
        admitted();
      }
    }
  }

  statistics(): AddressStatistics[] {
    return this.addresses.statistics();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const unsubscribeFromChannel of this.unsubscribers) unsubscribeFromChannel();
    await this.pool.close();
  }

  private async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    // With tracing on, the undici instrumentation adds the traceparent of this request's span.
    const response = await this.pool.request({
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
    });
    let body = '';
    let bodyComplete = true;
    try {
      body = await response.body.text();
    } catch {
      // The status line arrived, so the upstream's decision is known even without the body.
      bodyComplete = false;
    }
    return { statusCode: response.statusCode, headers: response.headers, body, bodyComplete };
  }

  private createPool(): Pool {
    const pool = new Pool(this.url.origin, {
      connect: (options, callback) => void this.connectWithinCap(options, callback),
      connections: this.config.maxConnections,
      // One request per connection at a time: a POST must never queue behind another on a socket.
      pipelining: 1,
      keepAliveTimeout: this.config.keepAliveMs,
      clientTtl: this.config.connectionTtlMs,
      headersTimeout: this.config.headersTimeoutMs,
      bodyTimeout: this.config.bodyTimeoutMs,
    });
    return pool;
  }

  /**
   * The pool's own cap is not enough: undici drops a client from its pool when the client fails to
   * connect, yet that client goes on connecting for its queued requests while the pool makes a new
   * one. Counting sockets here keeps the cap whatever the pool does.
   */
  private async connectWithinCap(
    options: buildConnector.Options,
    callback: buildConnector.Callback,
  ): Promise<void> {
    let release: () => void;
    try {
      release = await this.admission.connectionSlot();
    } catch (error) {
      (error as Record<symbol, boolean>)[CONNECT_PHASE] = true;
      callback(error as Error, null);
      return;
    }
    this.connectToNextAddress(
      options,
      (...result) => {
        const [error, socket] = result;
        if (error || !socket) release();
        else socket.once('close', release);
        callback(...result);
      },
      new Set(),
      'no address known',
    );
  }

  /** Opens a connection to the next admitted address, moving on while addresses refuse. */
  private connectToNextAddress(
    options: buildConnector.Options,
    callback: buildConnector.Callback,
    tried: Set<string>,
    lastProblem: string,
  ): void {
    const address = this.addresses.pick(tried, Date.now());
    if (!address) {
      const error = new Error(
        `no address accepted a connection (${tried.size} tried of ${this.addresses.size}; last: ${lastProblem})`,
      );
      (error as unknown as Record<symbol, boolean>)[CONNECT_PHASE] = true;
      callback(error, null);
      return;
    }
    tried.add(address);
    const servername = isIP(this.hostname) ? undefined : this.hostname;
    this.connectToAddress({ ...options, hostname: address, host: address, servername }, (error, socket) => {
      if (error) {
        this.addressFailed(
          address,
          error instanceof errors.ConnectTimeoutError ? 'timeout' : 'connect_error',
        );
        this.metrics?.recordUpstreamFailover(address);
        const problem = `${address}: ${describe(error)}`;
        this.logger.warn(`Upstream ${this.hostname} at ${problem}`);
        this.connectToNextAddress(options, callback, tried, problem);
        return;
      }
      this.addressAnswered(address);
      callback(null, socket!);
    });
  }

  /**
   * Counts requests per address and notices failures after a request was sent (a reset, a slow
   * address), which the connector cannot see, from undici's diagnostics channels.
   */
  private observeRequests(): void {
    const mine = (request: UndiciRequest) =>
      (typeof request.origin === 'string' ? request.origin : request.origin?.origin) === this.url.origin;
    const listen = <T>(channel: string, listener: (message: T) => void) => {
      const handler = (message: unknown) => listener(message as T);
      subscribe(channel, handler);
      this.unsubscribers.push(() => unsubscribe(channel, handler));
    };
    listen<{ request: UndiciRequest; socket: Socket }>('undici:client:sendHeaders', ({ request, socket }) => {
      if (!mine(request) || !socket.remoteAddress) return;
      this.requestAddresses.set(request, socket.remoteAddress);
      this.addresses.sent(socket.remoteAddress);
    });
    listen<{ request: UndiciRequest; response: { statusCode: number } }>(
      'undici:request:headers',
      ({ request, response }) => {
        const address = this.requestAddresses.get(request);
        if (!address) return;
        this.addressAnswered(address);
        this.metrics?.recordUpstreamRequest(address, response.statusCode >= 500 ? 'http_error' : 'success');
      },
    );
    listen<{ request: UndiciRequest; error: unknown }>('undici:request:error', ({ request, error }) => {
      const address = this.requestAddresses.get(request);
      if (!address) return;
      const timedOut =
        error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError;
      this.addressFailed(address, timedOut ? 'timeout' : 'error');
    });
  }

  private addressAnswered(address: string): void {
    const wasHealthy = this.addresses.isHealthy(address);
    this.addresses.answered(address);
    if (!wasHealthy) this.metrics?.recordUpstreamAddressHealth(address, true);
  }

  private addressFailed(address: string, outcome: 'timeout' | 'connect_error' | 'error'): void {
    this.addresses.failed(address, Date.now());
    this.metrics?.recordUpstreamRequest(address, outcome);
    this.metrics?.recordUpstreamAddressHealth(address, false);
  }

  private ensureResolved(): Promise<void> {
    if (!this.resolved) {
      this.resolved = this.refreshAddresses(true).catch((error: unknown) => {
        this.resolved = null; // the next request resolves again
        throw new UpstreamUnavailableException(`${this.hostname}: cannot resolve (${describe(error)})`);
      });
      if (!this.fixedAddresses() && isIP(this.hostname) === 0) {
        this.refreshTimer = setInterval(() => void this.refreshAddresses(false), this.config.dnsRefreshMs);
        this.refreshTimer.unref();
      }
    }
    return this.resolved;
  }

  private fixedAddresses(): readonly string[] | undefined {
    return this.config.addresses.get(this.hostname.toLowerCase());
  }

  /**
   * Drops loopback, link-local and metadata addresses unless they are allowed: a DNS answer that
   * points there (DNS rebinding) must not turn the gateway against its own host or cloud.
   */
  private admissible(addresses: readonly string[]): readonly string[] {
    if (addresses.length === 0) throw new Error('no A or AAAA records');
    if (this.config.allowLocalAddresses) return addresses;
    const refused = addresses.filter((address) => isLocalAddress(address));
    if (refused.length === 0) return addresses;
    this.logger.warn(
      `Upstream ${this.hostname}: not connecting to ${refused.join(', ')} (loopback, link-local or metadata; UPSTREAM_ALLOW_LOCAL_ADDRESSES is off)`,
    );
    const allowed = addresses.filter((address) => !isLocalAddress(address));
    if (allowed.length === 0) {
      throw new Error('resolves only to loopback, link-local or metadata addresses, which are refused');
    }
    return allowed;
  }

  /** Follows DNS. When addresses vanish, a fresh pool takes over and the old one drains and closes. */
  private async refreshAddresses(first: boolean): Promise<void> {
    let addresses: readonly string[];
    try {
      addresses = this.admissible(this.fixedAddresses() ?? (await this.resolver.resolve(this.hostname)));
    } catch (error) {
      if (first) throw error;
      this.logger.warn(
        `Upstream ${this.hostname}: resolving again failed, keeping the known addresses: ${describe(error)}`,
      );
      return;
    }
    const { added, removed } = this.addresses.replace(addresses);
    if (first || this.closed || (added.length === 0 && removed.length === 0)) return;
    this.logger.log(`Upstream ${this.hostname}: addresses now ${addresses.join(', ')}`);
    if (removed.length > 0) {
      const draining = this.pool;
      this.pool = this.createPool();
      await draining.close();
    }
  }
}

function isConnectPhase(error: unknown): boolean {
  return (
    error instanceof errors.ConnectTimeoutError ||
    (typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[CONNECT_PHASE] === true)
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}
