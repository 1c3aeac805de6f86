import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';

export interface TcpRelayOptions {
  /** One-way delay added to every byte, in both directions, as a link between zones adds. */
  readonly latencyMs?: number;
}

/**
 * A TCP relay on 127.0.0.1 that forwards every connection to a target port that can move: what a
 * Kubernetes Service, a VIP or pgbouncer in front of PostgreSQL is to its clients. With no target,
 * connections are reset at once (a Service with no ready endpoint). Moving the target or cutting
 * the relay drops every relayed connection and whatever bytes it still held in transit.
 */
export class TcpRelay {
  private readonly links = new Set<Socket[]>();

  private constructor(
    private readonly server: Server,
    private target: number | null,
    private readonly latencyMs: number,
  ) {}

  static async start(target: number | null, { latencyMs = 0 }: TcpRelayOptions = {}): Promise<TcpRelay> {
    let relay: TcpRelay | undefined;
    const server = createServer((client) => relay!.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new TcpRelay(server, target, latencyMs);
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Where new connections go from now on; the ones relayed so far are dropped. */
  switchTo(target: number | null): void {
    this.target = target;
    this.cut();
  }

  /** Drops every relayed connection at once, bytes in transit included: a link that is gone. */
  cut(): void {
    for (const sockets of this.links) for (const socket of sockets) socket.destroy();
    this.links.clear();
  }

  async close(): Promise<void> {
    this.target = null;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.target === null) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.target, '127.0.0.1');
    upstream.on('error', () => undefined);
    const sockets = [client, upstream];
    this.links.add(sockets);
    let open = 2;
    const closed = () => {
      if (--open === 0) this.links.delete(sockets);
    };
    this.forward(client, upstream, closed);
    this.forward(upstream, client, closed);
  }

  /**
   * Passes `from`'s bytes to `to` in order, each `latencyMs` after it arrived; once `from` has
   * closed, `to` is ended after the bytes before that.
   */
  private forward(from: Socket, to: Socket, closed: () => void): void {
    const inTransit: { due: number; chunk: Buffer | null }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const pass = (chunk: Buffer | null) => {
      if (chunk === null) to.end();
      else to.write(chunk);
    };
    const deliver = () => {
      timer = undefined;
      while (inTransit.length > 0 && inTransit[0].due <= Date.now()) pass(inTransit.shift()!.chunk);
      if (inTransit.length > 0) timer = setTimeout(deliver, inTransit[0].due - Date.now());
    };
    const send = (chunk: Buffer | null) => {
      if (this.latencyMs === 0) return pass(chunk);
      inTransit.push({ due: Date.now() + this.latencyMs, chunk });
      timer ??= setTimeout(deliver, this.latencyMs);
    };
    from.on('data', (chunk: Buffer) => send(chunk));
    from.on('close', () => {
      send(null);
      closed();
    });
    to.on('close', () => {
      clearTimeout(timer);
      inTransit.length = 0;
    });
  }
}
