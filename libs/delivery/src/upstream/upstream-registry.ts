import { randomBytes } from 'node:crypto';
import { hostname as machineName } from 'node:os';
import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { BudgetStoreHealth } from './budget/budget-store-health';
import { FleetConnectionSlots } from './budget/fleet-connection-slots';
import { fleetTimings } from './budget/fleet-timings';
import { MemoryUpstreamBudgetStore } from './budget/memory-upstream-budget.store';
import { MessagePermits } from './budget/message-permits';
import { UPSTREAM_BUDGET_STORE, UpstreamBudgetStore } from './budget/upstream-budget-store.interface';
import type { ConnectionSlots } from './connection-slots';
import { HOST_RESOLVER, HostResolver } from './host-resolver';
import { AddressesRemovedListener, UpstreamAddresses } from './upstream-addresses';
import { UpstreamClient } from './upstream-client';
import { hostBudget, UpstreamConfig, upstreamConfig } from './upstream.settings';
import type { UpstreamHttpClient } from './upstream.types';

/** What one upstream host may take from the fleet's budget, as this replica sees it. */
interface HostAllowance {
  readonly slots: FleetConnectionSlots;
  readonly permits: MessagePermits;
}

/**
 * One pooled, failing-over client per upstream origin, shared by every driver that calls it; and
 * per upstream host, the fleet-wide budget (connections and message rate) every transport that
 * dials the host takes from.
 */
@Injectable()
export class UpstreamRegistry implements OnModuleDestroy {
  /** This process among the replicas sharing the budgets: the pod's name, its pid and a nonce. */
  readonly replica = `${machineName()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly addressBooks = new Set<UpstreamAddresses>();
  private readonly hosts = new Map<string, HostAllowance>();
  private readonly store: UpstreamBudgetStore;
  private readonly health: BudgetStoreHealth;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    /** The UPSTREAM_* settings, for transports that dial on their own (TLS authorities, timeouts). */
    @InjectConfig(upstreamConfig) readonly config: UpstreamConfig,
    @Inject(HOST_RESOLVER) private readonly resolver: HostResolver,
    @Optional() private readonly metrics?: GatewayMetrics,
    @Optional() @Inject(UPSTREAM_BUDGET_STORE) store?: UpstreamBudgetStore,
  ) {
    this.store = store ?? new MemoryUpstreamBudgetStore(fleetTimings(config));
    this.health = new BudgetStoreHealth(this.store.kind, config.budget.heartbeatTtlMs, metrics);
  }

  /** The client for the origin of `url` (scheme, host and port; the path is ignored). */
  client(url: string): UpstreamHttpClient {
    const origin = new URL(url).origin;
    let client = this.clients.get(origin);
    if (!client) {
      const hostname = new URL(origin).hostname.replace(/^\[|\]$/g, '');
      client = new UpstreamClient(
        origin,
        this.config,
        this.resolver,
        this.connectionSlots(hostname),
        this.metrics,
        (signal) => this.messagePermit(hostname, signal),
      );
      this.clients.set(origin, client);
    }
    return client;
  }

  /**
   * The cap on open connections to one upstream host, shared by every transport that dials it
   * (HTTP clients of its origins and SMTP relay pools alike): the host's fleet-wide budget, of
   * which this replica holds its fair share, and never more than UPSTREAM_MAX_CONNECTIONS.
   */
  connectionSlots(hostname: string): ConnectionSlots {
    return this.allowance(hostname).slots;
  }

  /**
   * Resolves when one more message (request) may go to the host under its fleet-wide rate, if
   * UPSTREAM_HOST_BUDGETS gives it one; at once otherwise. Call it before each message. Rejects
   * with UpstreamUnavailableException (retryAfterMs set) when the next free send slot is further
   * away than UPSTREAM_BUDGET_MAX_WAIT_MS, and when the signal aborts.
   */
  messagePermit(hostname: string, signal?: AbortSignal): Promise<void> {
    return this.allowance(hostname).permits.take(signal);
  }

  /**
   * A new address book of `hostname` (DNS or UPSTREAM_ADDRESSES, refresh, cool-downs, metrics) for
   * a transport that opens its own connections, such as an SMTP relay pool; closed with the
   * registry. `onRemoved` hears of addresses that left DNS.
   */
  addresses(hostname: string, onRemoved?: AddressesRemovedListener): UpstreamAddresses {
    const addresses = new UpstreamAddresses(hostname, this.config, this.resolver, this.metrics, onRemoved);
    this.addressBooks.add(addresses);
    return addresses;
  }

  /** Every client created so far, for health and statistics. */
  all(): UpstreamClient[] {
    return [...this.clients.values()];
  }

  async onModuleDestroy(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    // Connections still waiting for a slot are refused first, so none opens while the pools close.
    for (const [hostname, { slots }] of this.hosts)
      slots.close(new Error(`${hostname}: the upstream is closed`));
    for (const addresses of this.addressBooks) addresses.close();
    this.addressBooks.clear();
    await Promise.all([...this.clients.values()].map((client) => client.close()));
    this.clients.clear();
    // Its connections are closed: the other replicas may share its part of each budget at once.
    await Promise.all([...this.hosts.values()].map(({ slots }) => slots.leave()));
    this.hosts.clear();
    await this.store.close();
  }

  private allowance(hostname: string): HostAllowance {
    const key = hostname.toLowerCase();
    let allowance = this.hosts.get(key);
    if (!allowance) {
      const budget = hostBudget(this.config.budget, key);
      const common = { host: key, store: this.store, health: this.health, metrics: this.metrics };
      const slots = new FleetConnectionSlots({
        ...common,
        replica: this.replica,
        budget: budget.connections,
        localLimit: this.config.maxConnections,
      });
      const permits = new MessagePermits({
        ...common,
        messagesPerSecond: budget.messagesPerSecond,
        maxWaitMs: this.config.budget.maxWaitMs,
        replicas: () => slots.replicas,
        worstCaseReplicas: budget.connections,
      });
      allowance = { slots, permits };
      this.hosts.set(key, allowance);
      this.startHeartbeat();
    }
    return allowance;
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      for (const { slots } of this.hosts.values()) void slots.heartbeat();
    }, this.config.budget.heartbeatMs);
    this.heartbeat.unref();
  }
}
