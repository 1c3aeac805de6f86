import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import { retryOptions } from './channel-settings';
import { FeedItem, FollowEventsOptions, followFeed } from './event-feed';
import { GatewayClientOptions, RetryOptions } from './gateway-client-options';
import {
  GetMessageRequest,
  GetMessageResponse,
  ListEventsRequest,
  ListEventsResponse,
  Mail,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
  StreamEventsRequest,
  StreamEventsResponse,
} from './generated/mailgateway/v1/mail_gateway';
import { GrpcStub, ServerStreaming, Unary } from './grpc-stub';
import { MAIL_GATEWAY_PROTO_PATH } from './proto-files';
import { advisedRetryDelayMs } from './retry-advice';

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
  listEvents: Unary<ListEventsRequest, ListEventsResponse>;
  streamEvents: ServerStreaming<StreamEventsRequest, StreamEventsResponse>;
}

/**
 * A typed, promise-based client of the MailGateway service over @grpc/grpc-js. Within each call's
 * deadline, UNAVAILABLE is retried by grpc-js's retry policy, and RESOURCE_EXHAUSTED is retried
 * only when the server advised when to (google.rpc.RetryInfo, else `retry-after`), after that delay.
 * Nothing else is retried: an invalid or oversize message gets the same answer every time. Sends
 * always carry an idempotency key, the same on every attempt, so a retry after a lost answer returns
 * the first message instead of a second one.
 */
export class MailGatewayClient {
  private readonly grpc: GrpcStub<MailGatewayStub>;
  private readonly retry: Required<RetryOptions>;

  constructor(options: MailGatewayClientOptions) {
    this.retry = retryOptions(options.retry);
    this.grpc = new GrpcStub(MAIL_GATEWAY_PROTO_PATH, 'MailGateway', options, { retryUnavailable: true });
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

  /** One page of the calling source's event feed, and the cursor to read on from. */
  listEvents(request: ListEventsRequest, options: CallOptions = {}): Promise<ListEventsResponse> {
    return this.call(this.grpc.stub.listEvents, request, options);
  }

  /**
   * The raw StreamEvents call (no deadline, no reconnects): a grpc-js readable stream that ends
   * when the gateway ends it or `cancel()` is called. followEvents() is what most callers want.
   */
  streamEvents(request: StreamEventsRequest): ClientReadableStream<StreamEventsResponse> {
    return this.grpc.stream(this.grpc.stub.streamEvents, request);
  }

  /**
   * Follows the feed from `cursor` for as long as the caller reads (`for await`), reconnecting
   * with the last cursor when the stream ends with UNAVAILABLE, until `signal` aborts. Delivery is
   * at least once: an event may come again after a reconnect, or after a restart from a stored
   * cursor; de-duplicate by `event.eventId` (the client drops an id it yielded among the last 100).
   * Store an item's cursor only once it is handled, and resume from it.
   */
  followEvents(options: FollowEventsOptions = {}): AsyncGenerator<FeedItem, void, undefined> {
    return followFeed((request) => this.streamEvents(request), options);
  }

  close(): void {
    this.grpc.close();
  }

  /** One call within one deadline, repeated after each throttling answer that says when to retry. */
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
        if (serviceError.code !== status.RESOURCE_EXHAUSTED || attempt >= this.retry.maxAttempts) throw error;
        const advisedMs = advisedRetryDelayMs(serviceError.metadata);
        if (advisedMs === undefined) throw error;
        // Never sooner than advised; a little later, so throttled callers do not return in step.
        const delayMs = advisedMs + Math.round(Math.random() * advisedMs * 0.1);
        // Waiting past the deadline would only end in DEADLINE_EXCEEDED: the caller gets the cause.
        if (Date.now() + delayMs >= deadline) throw error;
        await sleep(delayMs);
      }
    }
  }
}
