import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoggerService } from '@nestjs/common';
import { isStorageUnavailable } from '@mailgateway/database';
import type { FeedbackIntakeMetrics } from './feedback-intake-metrics';
import type { ProviderNotificationRepository } from './provider-notification.repository';
import type { InboundRequest, RefusalReason, WebhookProvider } from './webhook-provider';

const WEBHOOK_PATH = /^\/webhooks\/([a-z0-9-]+)(\/[^/]*)?$/;
/** A provider that has not sent its whole body by then is cut off (Node's default is 5 minutes). */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long a refused oversized upload may go on being discarded before its connection is cut. */
const DISCARD_GRACE_MS = 2_000;
/** How long shutdown waits for requests in flight (their stores) before cutting connections. */
const CLOSE_GRACE_MS = 5_000;

export interface FeedbackServerOptions {
  readonly maxBodyBytes: number;
  readonly providers: readonly WebhookProvider[];
  readonly notifications: Pick<ProviderNotificationRepository, 'store'>;
  readonly metrics: FeedbackIntakeMetrics;
  readonly logger: LoggerService;
  readonly now?: () => number;
}

class BodyTooLarge extends Error {}

/**
 * The providers' webhooks, on a port of their own (not the gRPC port): POST /webhooks/<provider>
 * and /webhooks/<provider>/<token>. The raw body is read up to the cap (413 as soon as it is
 * passed), checked by the provider on those bytes, and what it verified is committed before the
 * answer: 204 after the commit, 503 when storing failed (the provider retries; duplicates are
 * stored once). Refusals answer their status with a short text and log one line: provider, reason,
 * remote address; never the body, never a header.
 */
export class FeedbackServer {
  private server: Server | null = null;
  private readonly providers: ReadonlyMap<string, WebhookProvider>;
  private readonly now: () => number;

  constructor(private readonly options: FeedbackServerOptions) {
    this.providers = new Map(options.providers.map((provider) => [provider.name, provider]));
    this.now = options.now ?? Date.now;
  }

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((request, response) => void this.handle(request, response));
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Stops accepting; requests in flight finish (their stores commit) within a grace period. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const cutOff = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(cutOff);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = WEBHOOK_PATH.exec((request.url ?? '/').split('?')[0]);
    const provider = match ? this.providers.get(match[1]) : undefined;
    if (!match || !provider) {
      request.resume();
      return this.answer(response, 404, 'not found');
    }
    const name = provider.name;
    this.options.metrics.received.inc({ provider: name });
    if (request.method !== 'POST') {
      request.resume();
      response.setHeader('allow', 'POST');
      return this.refuse(request, response, name, 405, 'method', 'only POST is accepted');
    }
    let body: Buffer;
    try {
      body = await this.readBody(request);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        this.discardRest(request, response);
        return this.refuse(
          request,
          response,
          name,
          413,
          'too-large',
          `the body is over ${this.options.maxBodyBytes} bytes`,
        );
      }
      return; // the client went away mid-body: there is nobody to answer
    }
    const inbound: InboundRequest = {
      method: request.method,
      subpath: match[2] ?? '',
      headers: request.headers,
      body,
      receivedAt: this.now(),
    };
    let verification;
    try {
      verification = await provider.verify(inbound);
    } catch (error) {
      // E.g. SNS's signing certificate could not be fetched: the provider retries on a 5xx.
      this.options.logger.error(`webhook ${name}: could not be verified now: ${describe(error)}`);
      return this.answer(response, 503, 'could not be verified now; retry later');
    }
    if (verification.kind === 'refused') {
      const { status, reason, explanation } = verification;
      return this.refuse(request, response, name, status, reason, explanation);
    }
    this.options.metrics.verified.inc({ provider: name });
    try {
      const { stored, duplicates } = await this.options.notifications.store(
        verification.feedback,
        inbound.receivedAt,
      );
      if (stored > 0) this.options.metrics.stored.inc({ provider: name, outcome: 'new' }, stored);
      if (duplicates > 0)
        this.options.metrics.stored.inc({ provider: name, outcome: 'duplicate' }, duplicates);
    } catch (error) {
      this.options.metrics.storeFailures.inc({ provider: name });
      this.options.logger.warn(
        `webhook ${name}: not stored, answered 503 for a retry: ${isStorageUnavailable(error) ? 'storage unavailable' : describe(error)}`,
      );
      response.setHeader('retry-after', '30');
      return this.answer(response, 503, 'not stored; retry later');
    }
    this.answer(response, 204);
  }

  /** The raw bytes; stops reading (BodyTooLarge) once the cap is passed, or at once if Content-Length says so. */
  private readBody(request: IncomingMessage): Promise<Buffer> {
    const cap = this.options.maxBodyBytes;
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > cap) return Promise.reject(new BodyTooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > cap) {
          cleanUp();
          chunks.length = 0;
          reject(new BodyTooLarge());
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanUp();
        resolve(Buffer.concat(chunks, size));
      };
      const onAborted = () => {
        cleanUp();
        reject(new Error('the client closed the connection before the end of the body'));
      };
      const cleanUp = () => {
        request.off('data', onData);
        request.off('end', onEnd);
        request.off('error', onAborted);
        request.off('aborted', onAborted);
      };
      request.on('data', onData);
      request.on('end', onEnd);
      request.on('error', onAborted);
      request.on('aborted', onAborted);
    });
  }

  /**
   * The rest of an oversized body is read and dropped, not kept, so the client sees the 413 rather
   * than a reset; the connection closes after the answer, and is cut if the upload goes on.
   */
  private discardRest(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader('connection', 'close');
    request.on('data', () => undefined);
    request.resume();
    response.once('finish', () => {
      setTimeout(() => request.socket.destroy(), DISCARD_GRACE_MS).unref();
    });
  }

  private refuse(
    request: IncomingMessage,
    response: ServerResponse,
    provider: string,
    status: number,
    reason: RefusalReason,
    explanation: string,
  ): void {
    this.options.metrics.recordRefusal(provider, reason);
    this.options.logger.warn(
      `webhook refused: provider=${provider} reason=${reason} status=${status} remote=${request.socket.remoteAddress ?? 'unknown'}: ${explanation}`,
    );
    this.answer(response, status, explanation);
  }

  private answer(response: ServerResponse, status: number, text?: string): void {
    if (text === undefined) {
      response.writeHead(status, { 'cache-control': 'no-store' });
      response.end();
      return;
    }
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    response.end(`${text}\n`);
  }
}

/** An error's class and message, for the log: the providers' errors never hold a body or a secret. */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
}
