import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { ConnectionSlots } from './connection-slots';
import { HOST_RESOLVER, HostResolver } from './host-resolver';
import { AddressesRemovedListener, UpstreamAddresses } from './upstream-addresses';
import { UpstreamClient } from './upstream-client';
import { UpstreamConfig, upstreamConfig } from './upstream.settings';
import type { UpstreamHttpClient } from './upstream.types';

/** One pooled, failing-over client per upstream origin, shared by every driver that calls it. */
@Injectable()
export class UpstreamRegistry implements OnModuleDestroy {
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly slots = new Map<string, ConnectionSlots>();
  private readonly addressBooks = new Set<UpstreamAddresses>();

  constructor(
    /** The UPSTREAM_* settings, for transports that dial on their own (TLS authorities, timeouts). */
    @InjectConfig(upstreamConfig) readonly config: UpstreamConfig,
    @Inject(HOST_RESOLVER) private readonly resolver: HostResolver,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {}

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
      );
      this.clients.set(origin, client);
    }
    return client;
  }

  /**
   * The cap on open connections to one upstream host (UPSTREAM_MAX_CONNECTIONS), shared by every
   * transport that dials it: HTTP clients of its origins and SMTP relay pools alike.
   */
  connectionSlots(hostname: string): ConnectionSlots {
    const key = hostname.toLowerCase();
    let slots = this.slots.get(key);
    if (!slots) {
      slots = new ConnectionSlots(this.config.maxConnections);
      this.slots.set(key, slots);
    }
    return slots;
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
    // Connections still waiting for a slot are refused first, so none opens while the pools close.
    for (const [hostname, slots] of this.slots) slots.close(new Error(`${hostname}: the upstream is closed`));
    this.slots.clear();
    for (const addresses of this.addressBooks) addresses.close();
    this.addressBooks.clear();
    await Promise.all([...this.clients.values()].map((client) => client.close()));
    this.clients.clear();
  }
}
