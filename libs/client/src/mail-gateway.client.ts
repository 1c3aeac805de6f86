import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChannelCredentials,
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceError,
  status,
} from '@grpc/grpc-js';
import type { Client, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  GetMessageRequest,
  GetMessageResponse,
  Mail,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { advisedRetryDelayMs } from './rpc-status-details';

export interface RetryOptions {
  /** Attempts per logical call, the first included. 1 turns retries off. */
  readonly maxAttempts?: number;
  /** First backoff when the server gives no advice; doubles per retry (full jitter). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface MailGatewayClientOptions {
  /** host:port of the gateway. */
  readonly address: string;
  readonly credentials?: ChannelCredentials;
  /** Deadline of each logical call, its retries included. */
  readonly deadlineMs?: number;
  /** Sent with every call (e.g. authorization). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly retry?: RetryOptions;
}

export interface CallOptions {
  /** Overrides the client's deadline for this call. */
  readonly deadlineMs?: number;
}

export interface SendOptions extends CallOptions {
  /** The key of this logical send; one is generated when absent. */
  readonly idempotencyKey?: string;
}

type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => void;

interface MailGatewayStub extends Client {
  sendMail: Unary<SendMailRequest, SendMailResponse>;
  sendMailBatch: Unary<SendMailBatchRequest, SendMailBatchResponse>;
  getMessage: Unary<GetMessageRequest, GetMessageResponse>;
}

/** Worth another attempt: the server is briefly down or asked the caller to slow down. */
const RETRYABLE = new Set<status>([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED]);

let serviceConstructor: ServiceClientConstructor | undefined;

function mailGatewayService(): ServiceClientConstructor {
  if (!serviceConstructor) {
    const definition = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
    const v1 = (definition.mailgateway as Record<string, Record<string, unknown>>).v1;
    serviceConstructor = v1.MailGateway as ServiceClientConstructor;
  }
  return serviceConstructor;
}

/**
 * A typed, promise-based client of the MailGateway service over @grpc/grpc-js. Calls retry on
 * UNAVAILABLE and RESOURCE_EXHAUSTED within their deadline, waiting as long as the server advises
 * (google.rpc.RetryInfo, else `retry-after`). Sends always carry an idempotency key, the same on
 * every attempt, so a retry after a lost answer returns the first message instead of a second one.
 */
export class MailGatewayClient {
  private readonly stub: MailGatewayStub;
  private readonly deadlineMs: number;
  private readonly metadata: Readonly<Record<string, string>>;
  private readonly retry: Required<RetryOptions>;

  constructor(options: MailGatewayClientOptions) {
    const Service = mailGatewayService();
    this.stub = new Service(options.address, options.credentials ?? credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    }) as unknown as MailGatewayStub;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.metadata = options.metadata ?? {};
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
    return this.call(this.stub.sendMail, keyed, options);
  }

  sendMailBatch(request: SendMailBatchRequest, options: CallOptions = {}): Promise<SendMailBatchResponse> {
    const items = request.items.map((item) => ({
      ...item,
      idempotencyKey: item.idempotencyKey || randomUUID(),
    }));
    return this.call(this.stub.sendMailBatch, { ...request, items }, options);
  }

  getMessage(request: GetMessageRequest, options: CallOptions = {}): Promise<GetMessageResponse> {
    return this.call(this.stub.getMessage, request, options);
  }

  close(): void {
    this.stub.close();
  }

  private async call<Request, Response>(
    method: Unary<Request, Response>,
    request: Request,
    options: CallOptions,
  ): Promise<Response> {
    const deadline = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, request, new Date(deadline));
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

  private once<Request, Response>(
    method: Unary<Request, Response>,
    request: Request,
    deadline: Date,
  ): Promise<Response> {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    return new Promise((resolve, reject) => {
      method.call(this.stub, request, metadata, { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }
}
