import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { isIP, Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import type { GatewayMetrics } from '@mailgateway/observability';
import { buildConnector, errors, Pool } from 'undici';
import type { AddressStatistics } from './address-book';
import { ConnectionAdmission } from './connection-admission';
import type { ConnectionSlots } from './connection-slots';
import type { HostResolver } from './host-resolver';
import { trustedAuthorities } from './trusted-authorities';
import { describeError as describe, UpstreamAddresses } from './upstream-addresses';
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
  private readonly addresses: UpstreamAddresses;
  private readonly connectToAddress: buildConnector.connector;
  private readonly requestAddresses = new WeakMap<object, string>();
  private readonly unsubscribers: (() => void)[] = [];
  private readonly admission: ConnectionAdmission;
  private pool: Pool;

  constructor(
    readonly origin: string,
    private readonly config: UpstreamConfig,
    resolver: HostResolver,
    connectionSlots: ConnectionSlots,
    metrics?: GatewayMetrics,
    private readonly messagePermit: MessagePermit = async () => undefined,
  ) {
    this.url = new URL(origin);
    this.hostname = this.url.hostname.replace(/^\[|\]$/g, '');
    this.admission = new ConnectionAdmission(connectionSlots, this.hostname, config.budget.maxWaitMs);
    // When addresses vanish from DNS, a fresh pool takes over and the old one drains and closes.
    this.addresses = new UpstreamAddresses(this.hostname, config, resolver, metrics, async () => {
      const draining = this.pool;
      this.pool = this.createPool();
      await draining.close();
    });
    this.connectToAddress = buildConnector({
      timeout: config.connectTimeoutMs,
      // Extra CAs are added to the system ones; verification itself cannot be turned off.
      ca: trustedAuthorities(config),
      rejectUnauthorized: true,
    });
    this.pool = this.createPool();
    this.observeRequests();
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    await this.addresses.ensureResolved();
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
    this.addresses.close();
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
    const address = this.addresses.pick(tried);
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
        this.addresses.failed(
          address,
          error instanceof errors.ConnectTimeoutError ? 'timeout' : 'connect_error',
        );
        this.addresses.failedOver(address);
        const problem = `${address}: ${describe(error)}`;
        this.logger.warn(`Upstream ${this.hostname} at ${problem}`);
        this.connectToNextAddress(options, callback, tried, problem);
        return;
      }
      this.addresses.answered(address);
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
        this.addresses.answered(address);
        this.addresses.requestAnswered(address, response.statusCode >= 500 ? 'http_error' : 'success');
      },
    );
    listen<{ request: UndiciRequest; error: unknown }>('undici:request:error', ({ request, error }) => {
      const address = this.requestAddresses.get(request);
      if (!address) return;
      const timedOut =
        error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError;
      this.addresses.failed(address, timedOut ? 'timeout' : 'error');
    });
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
