import { BlockList, isIP } from 'node:net';

/**
 * Addresses an upstream must not point at unless UPSTREAM_ALLOW_LOCAL_ADDRESSES says so: this
 * host (loopback, unspecified), link-local networks, and the cloud metadata services that sit
 * there (169.254.169.254, fd00:ec2::254). A configured URL or a DNS answer pointing here could
 * make the gateway call its own admin endpoints or hand out a cloud role's credentials.
 */
const LOCAL = new BlockList();
LOCAL.addSubnet('127.0.0.0', 8, 'ipv4');
LOCAL.addSubnet('0.0.0.0', 8, 'ipv4');
LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LOCAL.addAddress('::1', 'ipv6');
LOCAL.addAddress('::', 'ipv6');
LOCAL.addSubnet('fe80::', 10, 'ipv6');
LOCAL.addAddress('fd00:ec2::254', 'ipv6');

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** Whether `ip` is loopback, unspecified, link-local or a metadata address (IPv4-mapped forms too). */
export function isLocalAddress(ip: string): boolean {
  const address = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = IPV4_MAPPED.exec(address);
  if (mapped) return LOCAL.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return LOCAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why a URL's host is local (an IP in those ranges, or localhost), or undefined. */
export function localHostProblem(url: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(url).hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return undefined; // the URL's own schema reports it
  }
  if (hostname === 'localhost' || hostname.endsWith('.localhost'))
    return `host "${hostname}" is this machine`;
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0 && isLocalAddress(bare)) {
    return `host ${bare} is a loopback, link-local or metadata address`;
  }
  return undefined;
}
