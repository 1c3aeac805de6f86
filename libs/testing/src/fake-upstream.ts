import { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port';
import type { TestCertificate } from './test-certificates';

export interface RecordedRequest {
  /** The local address the request arrived on (which of the upstream's IPs). */
  readonly address: string;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly servername: string | false;
}

export type UpstreamHandler = (request: RecordedRequest, response: ServerResponse) => void | Promise<void>;

type AddressMode = 'serving' | 'slow' | 'refusing' | 'black-holed';

const accepted: UpstreamHandler = (_request, response) => {
  response.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"accepted"}');
};

/**
 * One HTTPS upstream reachable on several loopback addresses (127.0.0.2, .3, ...) and one port,
 * the way a provider's hostname resolves to several IPs. Each address can refuse connections or
 * swallow them (accept TCP, never answer) to stage failures.
 */
export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  handler: UpstreamHandler = accepted;
  private readonly servers = new Map<string, HttpsServer | TcpServer>();
  private readonly sockets = new Set<Socket>();
  private readonly delays = new Map<string, number>();
  private openConnections = 0;
  maxOpenConnections = 0;
  connectionsOpened = 0;

  private constructor(
    private readonly certificate: TestCertificate,
    readonly port: number,
  ) {}

  /** Starts serving on every address, on one port that is free on all of them. */
  static async start(certificate: TestCertificate, addresses: string[]): Promise<FakeUpstream> {
    for (let tries = 1; ; tries++) {
      const upstream = new FakeUpstream(certificate, await freePort(addresses[0]));
      try {
        for (const address of addresses) await upstream.serve(address);
        return upstream;
      } catch (error) {
        await upstream.close();
        if (tries >= 5 || (error as { code?: string }).code !== 'EADDRINUSE') throw error;
      }
    }
  }

  /** Serves HTTPS on `address` (again). */
  async serve(address: string): Promise<void> {
    await this.stop(address);
    const server = createHttpsServer(
      { cert: this.certificate.cert, key: this.certificate.key },
      (request, response) => void this.handle(address, request, response),
    );
    server.on('secureConnection', (socket) => this.track(socket));
    await listen(server, address, this.port);
    this.servers.set(address, server);
  }

  /** Serves HTTPS on `address`, but every answer there waits `delayMs` first. */
  async slow(address: string, delayMs: number): Promise<void> {
    await this.serve(address);
    this.delays.set(address, delayMs);
  }

  /** Nothing listens on `address`: connections are refused. */
  async refuse(address: string): Promise<void> {
    await this.stop(address);
  }

  /** Accepts TCP on `address` and never answers: connections hang until the client gives up. */
  async blackHole(address: string): Promise<void> {
    await this.stop(address);
    const server = createTcpServer((socket) =>
      this.sockets.add(socket.on('close', () => this.sockets.delete(socket))),
    );
    await listen(server, address, this.port);
    this.servers.set(address, server);
  }

  mode(address: string): AddressMode {
    const server = this.servers.get(address);
    if (!server) return 'refusing';
    if (!(server instanceof HttpsServer)) return 'black-holed';
    return this.delays.has(address) ? 'slow' : 'serving';
  }

  /** Connections open now (those the client has begun to close not counted). */
  get openConnectionCount(): number {
    return this.openConnections;
  }

  requestsTo(address: string): RecordedRequest[] {
    return this.requests.filter((request) => request.address === address);
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((address) => this.stop(address)));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    this.openConnections++;
    this.connectionsOpened++;
    this.maxOpenConnections = Math.max(this.maxOpenConnections, this.openConnections);
    // A connection the client has closed (its FIN arrived) no longer counts, even while this
    // server still holds its half to finish a slow answer.
    let open = true;
    const closedByClient = () => {
      if (open) this.openConnections--;
      open = false;
    };
    socket.once('end', closedByClient);
    socket.once('close', () => {
      this.sockets.delete(socket);
      closedByClient();
    });
  }

  private async handle(address: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      address,
      method: request.method ?? '',
      path: request.url ?? '',
      headers: request.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      servername: (request.socket as { servername?: string | false }).servername ?? false,
    };
    this.requests.push(recorded);
    const delayMs = this.delays.get(address);
    if (delayMs) await sleep(delayMs);
    await this.handler(recorded, response);
  }

  private async stop(address: string): Promise<void> {
    const server = this.servers.get(address);
    if (!server) return;
    this.servers.delete(address);
    this.delays.delete(address);
    for (const socket of this.sockets) {
      if (socket.localAddress === address) socket.destroy();
    }
    await new Promise((resolve) => server.close(resolve));
  }
}

function listen(server: HttpsServer | TcpServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Answers with `statusCode` and a body that promises more than it sends, then resets the
 * connection: the decision arrived, the body never completes.
 */
export function respondThenResetMidBody(response: ServerResponse, statusCode: number): void {
  response.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': '64' });
  response.write('{"id":"partial', () => response.socket?.destroy());
}
