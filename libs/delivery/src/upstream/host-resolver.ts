import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/** Every address of a hostname. Tests bind their own resolver to HOST_RESOLVER. */
export interface HostResolver {
  resolve(hostname: string): Promise<string[]>;
}

export const HOST_RESOLVER = Symbol('HOST_RESOLVER');

/** All A and AAAA records; names DNS does not know (e.g. from /etc/hosts) through the system resolver. */
export class DnsHostResolver implements HostResolver {
  async resolve(hostname: string): Promise<string[]> {
    if (isIP(hostname)) return [hostname];
    const [v4, v6] = await Promise.allSettled([dns.resolve4(hostname), dns.resolve6(hostname)]);
    const addresses = [v4, v6].flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
    if (addresses.length > 0) return addresses;
    return (await dns.lookup(hostname, { all: true })).map(({ address }) => address);
  }
}
