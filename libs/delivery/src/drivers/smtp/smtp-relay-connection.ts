import { connect as connectTcp, isIP, Socket } from 'node:net';
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { describeError } from '../../upstream';
import { isAuthenticationReply, parseReply } from './smtp-reply';

/** How long a connection closed with QUIT may wait for the relay's side before it is cut. */
const QUIT_GRACE_MS = 2_000;

/** What every session with the relay shares. */
export interface RelaySessionOptions {
  /** The relay's hostname: TLS certificates are verified against it (and sent as SNI). */
  readonly hostname: string;
  readonly port: number;
  /** smtps://: TLS from the first byte; otherwise STARTTLS. */
  readonly implicitTls: boolean;
  /** Refuse a relay that does not offer STARTTLS. */
  readonly requireTls: boolean;
  /** Certificate authorities, undefined for the system's. */
  readonly ca?: string[];
  readonly connectTimeoutMs: number;
  readonly greetingTimeoutMs: number;
  readonly socketTimeoutMs: number;
  readonly ehloName?: string;
  /** Credentials for AUTH, or undefined to send without. */
  readonly auth?: SMTPConnection.AuthenticationType;
}

export type RelayEnvelope = { readonly from: string; readonly to: readonly string[]; readonly size: number };

/** How one transaction (MAIL FROM .. final dot) ended. */
export type TransactionResult =
  /** The relay answered the final dot with 2xx; some recipients may have been refused. */
  | { readonly kind: 'taken'; readonly info: SMTPConnection.SentMessageInfo }
  /** The relay refused a command with a reply (or nodemailer refused to send the envelope). */
  | { readonly kind: 'refused'; readonly error: SMTPConnection.SMTPError }
  /**
   * The connection failed without a reply. Before the final dot the relay cannot have taken the
   * message; after it, the outcome is unknown.
   */
  | {
      readonly kind: 'broken';
      readonly afterFinalDot: boolean;
      readonly timedOut: boolean;
      readonly problem: string;
    };

/** Opening a session failed: at this address (try the next one), or at AUTH (every address would). */
export class RelayOpenError extends Error {
  constructor(
    message: string,
    readonly authentication: boolean,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

// Errors nodemailer raises for the connection itself rather than for a reply.
const TRANSPORT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EPROTOCOL', 'ETLS', 'EDNS']);

/**
 * One SMTP session with one address of the relay, spoken by nodemailer's SMTPConnection over a
 * socket this class opens (so the address is ours to choose): greeting, EHLO, STARTTLS (or
 * implicit TLS), AUTH, then one transaction after another.
 */
export class RelayConnection {
  readonly openedAt = Date.now();
  /** Transactions run over this connection. */
  transactions = 0;
  private alive = true;
  private brokenListener: (() => void) | null = null;

  private constructor(
    readonly address: string,
    private readonly smtp: SMTPConnection,
    private readonly socket: Socket,
  ) {
    const broken = () => {
      if (!this.alive) return;
      this.alive = false;
      this.brokenListener?.();
    };
    smtp.on('error', broken);
    smtp.once('end', broken);
    socket.once('close', broken);
  }

  /**
   * Connects to `address` and runs the session up to a state where MAIL FROM may be sent.
   * `onClosed` runs once when the socket of the opened connection closes; when opening fails (or
   * `signal` aborts it) the socket is already destroyed and `onClosed` is not called.
   */
  static open(
    address: string,
    options: RelaySessionOptions,
    onClosed: () => void,
    signal: AbortSignal,
  ): Promise<RelayConnection> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason as Error);
      // Commands and the final dot are small writes: Nagle's algorithm would hold each behind the
      // relay's delayed ACK of the one before (40 ms on Linux), per message.
      const socket = connectTcp({ host: address, port: options.port, noDelay: true });
      let smtp: SMTPConnection | undefined;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        signal.removeEventListener('abort', onAbort);
        smtp?.close();
        socket.destroy();
        reject(error);
      };
      const onAbort = () => fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const failWith = (error: unknown) =>
        fail(
          new RelayOpenError(
            describeError(error),
            refusesCredentials(error),
            (error as { code?: string }).code === 'ETIMEDOUT',
          ),
        );
      const connectTimer = setTimeout(
        () => fail(new RelayOpenError(`no connection within ${options.connectTimeoutMs} ms`, false, true)),
        options.connectTimeoutMs,
      );
      // Stays for the socket's life: nodemailer adds its own handlers, this one only ends the opening.
      socket.on('error', (error) => failWith(error));
      socket.once('connect', () => {
        clearTimeout(connectTimer);
        const session = new SMTPConnection({
          connection: socket,
          // The hostname, not the address: TLS (implicit or STARTTLS) verifies the certificate against it.
          host: options.hostname,
          port: options.port,
          secure: options.implicitTls,
          requireTLS: options.requireTls && !options.implicitTls,
          name: options.ehloName,
          // Bounds the implicit TLS handshake; the TCP connect was bounded above.
          connectionTimeout: options.connectTimeoutMs,
          greetingTimeout: options.greetingTimeoutMs,
          socketTimeout: options.socketTimeoutMs,
          tls: {
            ca: options.ca,
            rejectUnauthorized: true,
            minVersion: 'TLSv1.2',
            servername: isIP(options.hostname) ? undefined : options.hostname,
          },
          logger: false,
        });
        smtp = session;
        session.on('error', (error) => failWith(error));
        session.once('end', () => fail(new RelayOpenError('the relay closed the connection', false, false)));
        session.connect((error) => {
          if (error) return failWith(error);
          if (!options.auth) return opened();
          session.login(options.auth, (loginError) => (loginError ? failWith(loginError) : opened()));
        });
        const opened = () => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          socket.once('close', onClosed);
          resolve(new RelayConnection(address, session, socket));
        };
      });
    });
  }

  /** Open, and not broken by the relay or the network since. */
  get usable(): boolean {
    return this.alive && !this.smtp.destroyed;
  }

  /** Runs once if the connection breaks or closes (an idle one is then dropped from its pool). */
  onBroken(listener: (() => void) | null): void {
    this.brokenListener = listener;
  }

  /**
   * One transaction: MAIL FROM, RCPT TO for each recipient, DATA with the raw message. Rejects
   * only when `signal` aborts (the connection is then destroyed).
   */
  send(envelope: RelayEnvelope, raw: Buffer, signal: AbortSignal): Promise<TransactionResult> {
    return new Promise((resolve, reject) => {
      // nodemailer reads the message only once the relay answered DATA with 354, and the final
      // dot follows the message's last byte: once it has all been read, the relay may have it.
      let wholeMessageRead = false;
      const message = Readable.from([raw], { objectMode: false });
      message.once('end', () => (wholeMessageRead = true));
      const onAbort = () => {
        this.destroy();
        reject(signal.reason as Error);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.transactions++;
      this.smtp.send(
        { from: envelope.from, to: [...envelope.to], size: envelope.size },
        message,
        (error, info) => {
          signal.removeEventListener('abort', onAbort);
          if (!error) return resolve({ kind: 'taken', info });
          const replied = (error.responseCode ?? 0) >= 400;
          if (replied || !TRANSPORT_CODES.has(error.code ?? '')) return resolve({ kind: 'refused', error });
          resolve({
            kind: 'broken',
            afterFinalDot: wholeMessageRead,
            timedOut: error.code === 'ETIMEDOUT',
            problem: describeError(error),
          });
        },
      );
    });
  }

  /** RSET after a refused transaction; false when the connection cannot be used any more. */
  reset(): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.usable) return resolve(false);
      this.smtp.reset((error) => resolve(!error && this.usable));
    });
  }

  /** QUIT, then close; a relay that does not close its side is cut off after a short grace. */
  quit(): void {
    this.brokenListener = null;
    if (!this.usable) return this.destroy();
    this.alive = false;
    this.smtp.quit();
    setTimeout(() => this.socket.destroy(), QUIT_GRACE_MS).unref();
  }

  destroy(): void {
    this.brokenListener = null;
    this.alive = false;
    this.smtp.close();
    this.socket.destroy();
  }
}

/**
 * nodemailer reports every AUTH that did not succeed as EAUTH; only a refusal of the credentials
 * (530, 534, 535, or nodemailer's own "missing credentials" without a reply) is one. A 454 or a
 * 421 during AUTH is the relay's passing trouble: another address may serve.
 */
function refusesCredentials(error: unknown): boolean {
  const { code, response } = error as { code?: string; response?: string };
  if (code !== 'EAUTH') return false;
  const reply = parseReply(response);
  return reply === undefined || isAuthenticationReply(reply);
}
