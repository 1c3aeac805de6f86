import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import {
  GetMessageRequest,
  GetMessageResponse,
  Mail,
  MAIL_GATEWAY_PROTO_PATH,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { GatewayClientOptions, GrpcStub, RetryOptions, Unary } from './grpc-stub';
import { advisedRetryDelayMs } from './rpc-status-details';

export type MailGatewayClientOptions = GatewayClientOptions;

export interface CallOptions {
  /** Overrides the client's deadline for this call. */
  readonly deadlineMs?: number;
}

export interface SendOptions extends CallOptions {
  /** The key of this logical send; one is generated when absent. */
  readonly idempotencyKey?: string;
}

interface MailGatewayStub extends Client {
  sendMail: Unary<SendMailRequest, SendMailResponse>;
  sendMailBatch: Unary<SendMailBatchRequest, SendMailBatchResponse>;
  getMessage: Unary<GetMessageRequest, GetMessageResponse>;
}

/** Worth another attempt: the server is briefly down or asked the caller to slow down. */
const RETRYABLE = new Set<status>([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED]);

/**
 * A typed, promise-based client of the MailGateway service over @grpc/grpc-js. Calls retry on
 * UNAVAILABLE and RESOURCE_EXHAUSTED within their deadline, waiting as long as the server advises
 * (google.rpc.RetryInfo, else `retry-after`). Sends always carry an idempotency key, the same on
 * every attempt, so a retry after a lost answer returns the first message instead of a second one.
 */
export class MailGatewayClient {
  private readonly grpc: GrpcStub<MailGatewayStub>;
  private readonly retry: Required<RetryOptions>;

  constructor(options: MailGatewayClientOptions) {
    this.grpc = new GrpcStub(MAIL_GATEWAY_PROTO_PATH, 'MailGateway', options);
    this.retry = {
      maxAttempts: options.retry?.maxAttempts ?? 5,
      initialBackoffMs: options.retry?.initialBackoffMs ?? 100,
      maxBackoffMs: options.retry?.maxBackoffMs ?? 5_000,
    };
  }

  /** One logical send of `mail`: one idempotency key for all its attempts. */
  send(mail: Mail, options: SendOptions = {}): Promise<SendMailResponse> {
    return this.sendMail({ mail, idempotencyKey: options.idempotencyKey ?? '' }, options);
  }

  sendMail(request: SendMailRequest, options: CallOptions = {}): Promise<SendMailResponse> {
    const keyed = { ...request, idempotencyKey: request.idempotencyKey || randomUUID() };
    return this.call(this.grpc.stub.sendMail, keyed, options);
  }

  sendMailBatch(request: SendMailBatchRequest, options: CallOptions = {}): Promise<SendMailBatchResponse> {
    const items = request.items.map((item) => ({
      ...item,
      idempotencyKey: item.idempotencyKey || randomUUID(),
    }));
    return this.call(this.grpc.stub.sendMailBatch, { ...request, items }, options);
  }

  getMessage(request: GetMessageRequest, options: CallOptions = {}): Promise<GetMessageResponse> {
    return this.call(this.grpc.stub.getMessage, request, options);
  }

  close(): void {
    this.grpc.close();
  }

  private async call<Request, Response>(
    method: Unary<Request, Response>,
    request: Request,
    options: CallOptions,
  ): Promise<Response> {
    const deadline = Date.now() + (options.deadlineMs ?? this.grpc.deadlineMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.grpc.call(method, request, new Date(deadline));
      } catch (error) {
        const serviceError = error as ServiceError;
        if (!RETRYABLE.has(serviceError.code) || attempt >= this.retry.maxAttempts) throw error;
        const delayMs = this.delayBeforeRetry(attempt, advisedRetryDelayMs(serviceError.metadata));
        // Waiting past the deadline would only end in DEADLINE_EXCEEDED: the caller gets the cause.
        if (Date.now() + delayMs >= deadline) throw error;
        await sleep(delayMs);
      }
    }
  }

  /** The server's advice when it gave one (never less), otherwise exponential backoff with full jitter. */
  private delayBeforeRetry(attempt: number, advisedMs: number | undefined): number {
    if (advisedMs !== undefined) return advisedMs + Math.round(Math.random() * advisedMs * 0.1);
    const ceiling = Math.min(this.retry.maxBackoffMs, this.retry.initialBackoffMs * 2 ** (attempt - 1));
    return Math.round(Math.random() * ceiling);
  }
}
