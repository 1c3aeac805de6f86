import { UpstreamRegistry } from '@mailgateway/delivery';
import type { SnsFetcher } from './sns-fetcher';

const MAX_DETAIL_LENGTH = 120;

/**
 * SnsFetcher through the gateway's upstream clients: TLS verified against the system authorities
 * and UPSTREAM_CA_FILE, UPSTREAM_ADDRESSES and the local-address rule applied, keep-alive pools.
 */
export class UpstreamSnsFetcher implements SnsFetcher {
  constructor(private readonly registry: UpstreamRegistry) {}

  async get(value: string): Promise<string> {
    const url = new URL(value);
    const response = await this.registry.client(url.origin).request({
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      idempotent: true,
    });
    if (response.statusCode !== 200) {
      const detail = response.body.slice(0, MAX_DETAIL_LENGTH).replace(/\s+/g, ' ');
      throw new Error(`GET ${url.origin}${url.pathname} answered HTTP ${response.statusCode}: ${detail}`);
    }
    return response.body;
  }
}
