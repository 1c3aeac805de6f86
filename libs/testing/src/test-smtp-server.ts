import { randomBytes } from 'node:crypto';
import { createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { SMTPServer, SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import { freePort } from './free-port';
import type { TestCertificate } from './test-certificates';

/** A message whose final dot reached the server. */
export interface ReceivedSmtpMessage {
  /** The local address it arrived on (which of the relay's IPs). */
  readonly address: string;
  /** The session (connection) it came over. */
  readonly sessionId: string;
  readonly mailFrom: string;
  /** RCPT TO addresses the server accepted. */
  readonly rcptTo: readonly string[];
  readonly raw: Buffer;
  /** Whether the session was TLS (STARTTLS or implicit). */
  readonly secure: boolean;
  /** The TLS server name the client asked for (SNI). */
  readonly servername?: string;
  /** Who authenticated, if anyone. */
  readonly user?: string;
  /** The reply the server gave to the final dot ('hang': none). */
  readonly reply: SmtpDataReply;
}

/** The reply to a final dot: a code and text ("451", "try again in 30 seconds"), or no reply at all. */
export type SmtpDataReply = { readonly code: number; readonly text: string } | 'hang';

export interface TestSmtpServerOptions {
  readonly certificate: TestCertificate;
  readonly addresses: readonly string[];
  /** TLS from the first byte (smtps://) instead of STARTTLS. */
  readonly implicitTls?: boolean;
  /** Offer STARTTLS (with a plaintext listener); default true. */
  readonly startTls?: boolean;
  /** AUTH the server requires before MAIL FROM; none: AUTH is optional. */
  readonly credentials?: {
    readonly username: string;
    readonly password?: string;
    readonly accessToken?: string;
  };
}

type AddressMode = 'serving' | 'refusing' | 'black-holed' | 'greeting-421';

/**
 * A real SMTP server (nodemailer's smtp-server) on several loopback addresses (127.0.0.2, .3 ...)
 * and one port, the way a relay's hostname resolves to several IPs. Each address can serve,
 * refuse connections (nothing listens), swallow them (TCP accepted, no greeting) or greet with
 * 421. Recipients can be refused one by one and the reply to each final dot scripted. It counts
 * the connections it was given, so tests can check reuse and the cap.
 */
export class TestSmtpServer {
  readonly messages: ReceivedSmtpMessage[] = [];
  /** How the final dot of each message is answered. */
  onMessage: (message: Omit<ReceivedSmtpMessage, 'reply'>) => SmtpDataReply = () => ({
    code: 250,
    text: `Ok: queued as ${randomBytes(6).toString('hex').toUpperCase()}`,
  });
  connectionsOpened = 0;
  maxOpenConnections = 0;
  private openConnections = 0;
  private readonly connectionsByAddress = new Map<string, number>();
  private readonly refusedRecipients = new Map<string, { code: number; text: string }>();
  private readonly droppingAtRecipient = new Set<string>();
  private readonly servers = new Map<string, SMTPServer | TcpServer>();
  private readonly modes = new Map<string, AddressMode>();
  private readonly rawSockets = new Set<Socket>();
  private readonly hanging = new Set<() => void>();

  private constructor(
    private readonly options: TestSmtpServerOptions,
    readonly port: number,
  ) {}

  /** Serves on every address, on one port that is free on all of them. */
  static async start(options: TestSmtpServerOptions): Promise<TestSmtpServer> {
    for (let tries = 1; ; tries++) {
      const server = new TestSmtpServer(options, await freePort(options.addresses[0]));
      try {
        for (const address of options.addresses) await server.serve(address);
        return server;
      } catch (error) {
        await server.close();
        if (tries >= 5 || (error as { code?: string }).code !== 'EADDRINUSE') throw error;
      }
    }
  }

  /** Serves SMTP on `address` (again). */
  async serve(address: string): Promise<void> {
    await this.stop(address);
    const { certificate, implicitTls = false, startTls = true, credentials } = this.options;
    const server = new SMTPServer({
      secure: implicitTls,
      key: certificate.key,
      cert: certificate.cert,
      hideSTARTTLS: !startTls,
      // Replies carry RFC 3463 codes ("550 5.1.1 ..."), as production relays' do.
      hideENHANCEDSTATUSCODES: false,
      disabledCommands: startTls || implicitTls ? [] : ['STARTTLS'],
      authOptional: !credentials,
      authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
      banner: 'relay.test test relay',
      logger: false,
      closeTimeout: 100,
      onConnect: (session, callback) => {
        this.opened(session.localAddress);
        callback();
      },
      onClose: () => {
        this.openConnections--;
      },
      onAuth: (auth, _session, callback) => this.authenticate(auth, callback),
      onRcptTo: ({ address: recipient }, session, callback) => {
        if (this.droppingAtRecipient.has(session.localAddress)) return this.drop(server, session);
        const refusal = this.refusedRecipients.get(recipient.toLowerCase());
        if (!refusal) return callback();
        callback(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => this.received(session, Buffer.concat(chunks), callback));
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, address, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    this.servers.set(address, server);
    this.modes.set(address, 'serving');
  }

  /** Nothing listens on `address`: connections are refused. */
  async refuse(address: string): Promise<void> {
    await this.stop(address);
  }

  /** Accepts TCP on `address` and never greets: connections hang until the client gives up. */
  async blackHole(address: string): Promise<void> {
    await this.listenRaw(address, () => undefined);
    this.modes.set(address, 'black-holed');
  }

  /** Greets every connection on `address` with 421 and closes it. */
  async greetWith421(address: string): Promise<void> {
    await this.listenRaw(address, (socket) =>
      socket.end('421 4.3.2 relay.test Service not available, closing transmission channel\r\n'),
    );
    this.modes.set(address, 'greeting-421');
  }

  /** RCPT TO `recipient` is answered with `code` and `text`, e.g. 550 "No such user". */
  refuseRecipient(recipient: string, code = 550, text = `<${recipient}>: No such user here`): void {
    this.refusedRecipients.set(recipient.toLowerCase(), { code, text });
  }

  /** Sessions on `address` are cut at their first RCPT TO, without a reply: before DATA. */
  dropAtRecipient(address: string): void {
    this.droppingAtRecipient.add(address);
  }

  mode(address: string): AddressMode {
    return this.modes.get(address) ?? 'refusing';
  }

  /** Connections opened to `address` (SMTP sessions greeted, or raw connections taken). */
  connectionsTo(address: string): number {
    return this.connectionsByAddress.get(address) ?? 0;
  }

  messagesTo(address: string): ReceivedSmtpMessage[] {
    return this.messages.filter((message) => message.address === address);
  }

  /** Distinct sessions that carried a message. */
  get sessionsUsed(): number {
    return new Set(this.messages.map((message) => message.sessionId)).size;
  }

  async close(): Promise<void> {
    for (const release of this.hanging) release();
    this.hanging.clear();
    await Promise.all([...this.servers.keys()].map((address) => this.stop(address)));
  }

  private opened(address: string): void {
    this.connectionsOpened++;
    this.openConnections++;
    this.maxOpenConnections = Math.max(this.maxOpenConnections, this.openConnections);
    this.connectionsByAddress.set(address, (this.connectionsByAddress.get(address) ?? 0) + 1);
  }

  private drop(server: SMTPServer, session: SMTPServerSession): void {
    for (const connection of server.connections) {
      if (connection.session === session) connection._socket.destroy();
    }
  }

  private authenticate(
    auth: SMTPServerAuthentication,
    callback: (error: Error | null | undefined, response?: { user?: string; data?: object }) => void,
  ): void {
    const expected = this.options.credentials;
    const valid =
      expected !== undefined &&
      auth.username === expected.username &&
      (auth.method === 'XOAUTH2'
        ? expected.accessToken !== undefined && auth.accessToken === expected.accessToken
        : expected.password !== undefined && auth.password === expected.password);
    if (valid) return callback(null, { user: auth.username });
    // An XOAUTH2 refusal is a 334 challenge with the error, after which the client may try a new token.
    if (auth.method === 'XOAUTH2') return callback(null, { data: { status: '401', schemes: 'bearer' } });
    callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
  }

  private received(
    session: SMTPServerSession,
    raw: Buffer,
    callback: (error?: Error | null, message?: string) => void,
  ): void {
    const message = {
      address: session.localAddress,
      sessionId: session.id,
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map(({ address }) => address),
      raw,
      secure: session.secure,
      servername: session.servername || undefined,
      user: typeof session.user === 'string' ? session.user : undefined,
    };
    const reply = this.onMessage(message);
    this.messages.push({ ...message, reply });
    if (reply === 'hang') {
      // Answered only when the server closes: the client sees silence after its final dot.
      this.hanging.add(() => callback(new Error('shutting down')));
      return;
    }
    if (reply.code >= 400)
      return callback(Object.assign(new Error(reply.text), { responseCode: reply.code }));
    callback(null, reply.text);
  }

  private async listenRaw(address: string, onConnection: (socket: Socket) => void): Promise<void> {
    await this.stop(address);
    const server = createTcpServer((socket) => {
      this.connectionsOpened++;
      this.connectionsByAddress.set(address, (this.connectionsByAddress.get(address) ?? 0) + 1);
      this.rawSockets.add(socket.on('close', () => this.rawSockets.delete(socket)));
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.set(address, server);
  }

  private async stop(address: string): Promise<void> {
    const server = this.servers.get(address);
    if (!server) return;
    this.servers.delete(address);
    this.modes.delete(address);
    for (const socket of this.rawSockets) {
      if (socket.localAddress === address) socket.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
