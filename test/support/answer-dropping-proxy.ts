import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';

/** HTTP/2 frames start with a 9-byte header: length (3 bytes), type, flags, stream id (4 bytes). */
const FRAME_HEADER_BYTES = 9;
const HEADERS_FRAME = 0x1;

/**
 * A TCP proxy in front of a gRPC server that can lose an answer. Once armed with dropNextAnswer(),
 * it closes the connection on which the server next starts a response (a HEADERS frame on a
 * stream) before any byte of that response reaches the client: the server has done the call's
 * work, and the client sees only a dropped connection (UNAVAILABLE). Everything else passes as is.
 */
export class AnswerDroppingProxy {
  private armed = false;
  private droppedAnswers = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  static async start(target: string): Promise<AnswerDroppingProxy> {
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.split(':').pop())];
    let proxy: AnswerDroppingProxy | undefined;
    const server = createServer((client) => proxy!.relay(client, connect(port, host)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new AnswerDroppingProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** Loses the next response the server starts, on whichever connection it comes. */
  dropNextAnswer(): void {
    this.armed = true;
  }

  /** How many answers were lost so far. */
  get dropped(): number {
    return this.droppedAnswers;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, upstream: Socket): void {
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.pipe(upstream);
    // The server's bytes are passed on whole frames at a time, so a response can be stopped
    // before its first byte.
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let end = 0;
      while (pending.length - end >= FRAME_HEADER_BYTES) {
        const length = pending.readUIntBE(end, 3);
        if (pending.length - end < FRAME_HEADER_BYTES + length) break;
        const type = pending[end + 3];
        const streamId = pending.readUInt32BE(end + 5) & 0x7fff_ffff;
        if (this.armed && type === HEADERS_FRAME && streamId !== 0) {
          this.armed = false;
          this.droppedAnswers++;
          client.write(pending.subarray(0, end));
          closeBoth();
          return;
        }
        end += FRAME_HEADER_BYTES + length;
      }
      client.write(pending.subarray(0, end));
      pending = pending.subarray(end);
    });
  }
}
