import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago on the given address, taken from below the kernel's
 * ephemeral range: a port the kernel hands out (`listen(0)`) can be given, in the moment between
 * this check and the real bind, to some other process's outgoing connection as its local port,
 * and the real bind then fails with EADDRINUSE. Ports below the range are never handed out so.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = portsBelowEphemeralRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(host, port)) return port;
  }
  throw new Error(`no free port on ${host} between ${low} and ${high} after 200 tries`);
}

function portsBelowEphemeralRange(): [number, number] {
  const ephemeralLow = Number(
    readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
  );
  const high = Math.min(ephemeralLow, 65536);
  const low = Math.max(1024, high - 16384);
  if (high - low < 1024) throw new Error(`the ephemeral port range starts at ${ephemeralLow}`);
  return [low, high];
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
