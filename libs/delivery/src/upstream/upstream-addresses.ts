import { isIP } from 'node:net';
import { Logger } from '@nestjs/common';
import type { GatewayMetrics, UpstreamOutcome } from '@mailgateway/observability';
import { AddressBook, AddressStatistics } from './address-book';
import type { HostResolver } from './host-resolver';
import { isLocalAddress } from './local-addresses';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';
import type { UpstreamConfig } from './upstream.settings';

/** Called after a refresh dropped addresses: connections to them should be retired. */
export type AddressesRemovedListener = (removed: readonly string[]) => void | Promise<void>;

/**
 * Every address of one upstream host and their health, for a transport that opens its own
 * connections (the HTTP client, the SMTP relay pool): all A and AAAA records, or the fixed
 * UPSTREAM_ADDRESSES, resolved again every UPSTREAM_DNS_REFRESH_MS; loopback, link-local and
 * metadata answers refused unless UPSTREAM_ALLOW_LOCAL_ADDRESSES; failing addresses cooled down.
 * Whatever it learns is also exported as metrics.
 */
export class UpstreamAddresses {
  private readonly logger = new Logger(UpstreamAddresses.name);
  private readonly book: AddressBook;
  private resolved: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    /** The hostname, without brackets for an IPv6 literal. */
    readonly hostname: string,
    private readonly config: UpstreamConfig,
    private readonly resolver: HostResolver,
    private readonly metrics?: GatewayMetrics,
    private readonly onRemoved?: AddressesRemovedListener,
  ) {
    this.book = new AddressBook(config.cooldownMs, config.maxCooldownMs);
  }

  /** How many addresses are known. */
  get size(): number {
    return this.book.size;
  }

  /**
   * Resolves the first time (and again after a failed first time); later calls wait for nothing.
   * Rejects with UpstreamUnavailableException when the host has no admissible address.
   */
  ensureResolved(): Promise<void> {
    if (!this.resolved) {
      this.resolved = this.refresh(true).catch((error: unknown) => {
        this.resolved = null; // the next request resolves again
        throw new UpstreamUnavailableException(`${this.hostname}: cannot resolve (${describeError(error)})`);
      });
      if (!this.fixedAddresses() && isIP(this.hostname) === 0 && !this.refreshTimer) {
        this.refreshTimer = setInterval(() => void this.refresh(false), this.config.dnsRefreshMs);
        this.refreshTimer.unref();
      }
    }
    return this.resolved;
  }

  /** The next address to connect to, skipping `tried` (see AddressBook.pick). */
  pick(tried: ReadonlySet<string>, now = Date.now()): string | undefined {
    return this.book.pick(tried, now);
  }

  /** Whether `address` is (still) one of the host's. */
  has(address: string): boolean {
    return this.book.has(address);
  }

  /** A request (or message) was sent to `address`. */
  sent(address: string): void {
    this.book.sent(address);
  }

  /** `address` opened a connection or answered: it is healthy again. */
  answered(address: string): void {
    const wasHealthy = this.book.isHealthy(address);
    this.book.answered(address);
    if (!wasHealthy) this.metrics?.recordUpstreamAddressHealth(address, true);
  }

  /** `address` refused, timed out or broke a connection: it cools down. */
  failed(address: string, outcome: Exclude<UpstreamOutcome, 'success' | 'http_error'>): void {
    this.book.failed(address, Date.now());
    this.metrics?.recordUpstreamRequest(address, outcome);
    this.metrics?.recordUpstreamAddressHealth(address, false);
  }

  /** A connection attempt left `address` for the next one. */
  failedOver(address: string): void {
    this.metrics?.recordUpstreamFailover(address);
  }

  /** One request to `address` got its answer. */
  requestAnswered(address: string, outcome: 'success' | 'http_error'): void {
    this.metrics?.recordUpstreamRequest(address, outcome);
  }

  statistics(): AddressStatistics[] {
    return this.book.statistics();
  }

  close(): void {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
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

  /** Follows DNS; a failed refresh keeps the known addresses. */
  private async refresh(first: boolean): Promise<void> {
    let addresses: readonly string[];
    try {
      addresses = this.admissible(this.fixedAddresses() ?? (await this.resolver.resolve(this.hostname)));
    } catch (error) {
      if (first) throw error;
      this.logger.warn(
        `Upstream ${this.hostname}: resolving again failed, keeping the known addresses: ${describeError(error)}`,
      );
      return;
    }
    const { added, removed } = this.book.replace(addresses);
    if (first || this.closed || (added.length === 0 && removed.length === 0)) return;
    this.logger.log(`Upstream ${this.hostname}: addresses now ${addresses.join(', ')}`);
    if (removed.length > 0) await this.onRemoved?.(removed);
  }
}

/** An error's code and message, for logs and outcome reasons. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}
