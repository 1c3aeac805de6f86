import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { GatewayMetrics } from '@mailgateway/observability';
import { HOST_RESOLVER, HostResolver } from './host-resolver';
import { UpstreamClient } from './upstream-client';
import { UpstreamConfig, upstreamConfig } from './upstream.settings';
import type { UpstreamHttpClient } from './upstream.types';

/** One pooled, failing-over client per upstream origin, shared by every driver that calls it. */
@Injectable()
export class UpstreamRegistry implements OnModuleDestroy {
  private readonly clients = new Map<string, UpstreamClient>();

  constructor(
    @InjectConfig(upstreamConfig) private readonly config: UpstreamConfig,
    @Inject(HOST_RESOLVER) private readonly resolver: HostResolver,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {}

  /** The client for the origin of `url` (scheme, host and port; the path is ignored). */
  client(url: string): UpstreamHttpClient {
    const origin = new URL(url).origin;
    let client = this.clients.get(origin);
    if (!client) {
      client = new UpstreamClient(origin, this.config, this.resolver, this.metrics);
      this.clients.set(origin, client);
    }
    return client;
  }

  /** Every client created so far, for health and statistics. */
  all(): UpstreamClient[] {
    return [...this.clients.values()];
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.clients.values()].map((client) => client.close()));
    this.clients.clear();
  }
}
