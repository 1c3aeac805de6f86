import type { HostResolver } from '@mailgateway/delivery';

/** A resolver a test controls: hostnames map to the addresses it sets, and lookups are counted. */
export class StaticHostResolver implements HostResolver {
  private readonly records = new Map<string, string[]>();
  lookups = 0;

  set(hostname: string, addresses: string[]): this {
    this.records.set(hostname, addresses);
    return this;
  }

  async resolve(hostname: string): Promise<string[]> {
    this.lookups++;
    const addresses = this.records.get(hostname);
    if (!addresses) throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses;
  }
}
