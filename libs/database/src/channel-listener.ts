import type { Client, Notification } from 'pg';
import type { TransactionRunner } from './transaction-runner';

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

export interface ChannelListenerEvents {
  /** A notification's payload on the channel. */
  notification(payload: string): void;
  /** LISTEN holds, at first and after each reconnect; what was sent while it did not is lost. */
  listening(): void;
  /** The connection broke (or never came up); it reconnects by itself. */
  lost(error: Error | undefined): void;
}

/**
 * PostgreSQL only: one connection of its own that only LISTENs on one channel, and comes back by
 * itself after it breaks (waiting 0.5 s, doubling to 30 s while it keeps failing).
 */
export class ChannelListener {
  private client: Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs = RECONNECT_MIN_MS;
  private closed = false;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly applicationName: string,
    private readonly channel: string,
    private readonly events: ChannelListenerEvents,
  ) {}

  start(): void {
    if (this.closed || this.client) return;
    const client = this.transactions.dedicatedConnection(this.applicationName);
    this.client = client;
    const broken = (error?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.events.lost(error);
      this.reconnectTimer = setTimeout(() => this.start(), this.reconnectDelayMs).unref();
      this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, RECONNECT_MAX_MS);
    };
    client.on('error', broken);
    client.on('end', () => broken());
    client.on('notification', ({ channel, payload }: Notification) => {
      if (channel === this.channel && payload) this.events.notification(payload);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${this.channel}`))
      .then(() => {
        this.reconnectDelayMs = RECONNECT_MIN_MS;
        this.events.listening();
      })
      .catch(broken);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
