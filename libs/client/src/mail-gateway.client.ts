import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, status } from '@grpc/grpc-js';
import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import { retryOptions } from './channel-settings';
import { FeedItem, FollowEventsOptions, followFeed } from './event-feed';
import { GatewayClientOptions, RetryOptions } from './gateway-client-options';
import {
  BatchItemRejection,
  CancelMessageRequest,
  CancelMessageResponse,
  CancelMessagesRequest,
  CancelMessagesResponse,
  GetMessageRequest,
  GetMessageResponse,
  ListEventsRequest,
  ListEventsResponse,
  Mail,
  RescheduleMessageRequest,
  RescheduleMessageResponse,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
  StreamEventsRequest,
  StreamEventsResponse,
} from './generated/mailgateway/v1/mail_gateway';
import type { Timestamp } from './generated/google/protobuf/timestamp';
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
  /**
   * When to send it (a Date or epoch ms): absent or not later than now, at once; later (up to the
   * gateway's SCHEDULE_MAX_AHEAD_MS, 30 days by default), the message waits as SCHEDULED.
   */
  readonly sendAt?: Date | number;
}

interface MailGatewayStub extends Client {
  sendMail: Unary<SendMailRequest, SendMailResponse>;
  sendMailBatch: Unary<SendMailBatchRequest, SendMailBatchResponse>;
  getMessage: Unary<GetMessageRequest, GetMessageResponse>;
  listEvents: Unary<ListEventsRequest, ListEventsResponse>;
  cancelMessage: Unary<CancelMessageRequest, CancelMessageResponse>;
  cancelMessages: Unary<CancelMessagesRequest, CancelMessagesResponse>;
  rescheduleMessage: Unary<RescheduleMessageRequest, RescheduleMessageResponse>;
  streamEvents: ServerStreaming<StreamEventsRequest, StreamEventsResponse>;
}

/** The status and wording with which the gateway refuses to cancel a message already cancelled. */
const ALREADY_CANCELLED = /^the message is already CANCELLED$/;

/**
 * Whether a refused cancel (a CancelMessage error, or a CancelMessages `rejected`) says the message
 * was cancelled already. The outcome a cancel asks for then holds: the message is never sent. A
 * cancel retried after UNAVAILABLE (an answer lost after the gateway had committed it) gets this
 * answer, so treat it as success.
 */
export function isAlreadyCancelled(refusal: ServiceError | BatchItemRejection): boolean {
  return 'reason' in refusal
    ? refusal.code === 'FAILED_PRECONDITION' && ALREADY_CANCELLED.test(refusal.reason)
    : refusal.code === status.FAILED_PRECONDITION && ALREADY_CANCELLED.test(refusal.details);
}

/** A Date or epoch ms as a protobuf Timestamp. */
export function toTimestamp(time: Date | number): Timestamp {
  const ms = typeof time === 'number' ? time : time.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`not a valid time: ${String(time)}`);
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.floor((ms - seconds * 1000) * 1e6) };
}

/**
 * A typed, promise-based client of the MailGateway service over @grpc/grpc-js. Within each call's
 * deadline, UNAVAILABLE is retried by grpc-js's retry policy, and RESOURCE_EXHAUSTED is retried
 * only when the server advised when to (google.rpc.RetryInfo, else `retry-after`), after that delay.
 * Nothing else is retried: an invalid or oversize message gets the same answer every time. Sends
 * always carry an idempotency key, the same on every attempt, so a retry after a lost answer returns
 * the first message instead of a second one. Cancels and reschedules are retried alike: repeating
 * one changes nothing more, though its answer may differ (see cancelMessage).
 */
export class MailGatewayClient {
  private readonly grpc: GrpcStub<MailGatewayStub>;
  private readonly retry: Required<RetryOptions>;

  constructor(options: MailGatewayClientOptions) {
    this.retry = retryOptions(options.retry);
    this.grpc = new GrpcStub(MAIL_GATEWAY_PROTO_PATH, 'MailGateway', options, { retryUnavailable: true });
  }

  /**
   * One logical send of `mail`: one idempotency key for all its attempts. `sendAt` counts as
   * content: the same key with another send time is INVALID_ARGUMENT.
   */
  send(mail: Mail, options: SendOptions = {}): Promise<SendMailResponse> {
    const sendAt = options.sendAt === undefined ? undefined : toTimestamp(options.sendAt);
    return this.sendMail({ mail, idempotencyKey: options.idempotencyKey ?? '', sendAt }, options);
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

  /**
   * Withdraws a message no attempt has started (role `mail.send`): it ends CANCELLED and is never
   * sent. Retried after UNAVAILABLE like every call: a retry after a lost OK finds the message
   * cancelled and is refused with FAILED_PRECONDITION "the message is already CANCELLED", which
   * means success (`isAlreadyCancelled(error)`). FAILED_PRECONDITION otherwise: an attempt is under
   * way (if it does not deliver, no other follows and the message ends CANCELLED) or the message is
   * already final (the details name its status). NOT_FOUND: no such message, or another source's.
   */
  cancelMessage(messageId: string, options: CallOptions = {}): Promise<CancelMessageResponse> {
    return this.call(this.grpc.stub.cancelMessage, { messageId }, options);
  }

  /**
   * CancelMessage for 1 to 1000 ids in one call, answered per id in request order: `cancelled`, or
   * `rejected` with the code CancelMessage would have answered. After a retry (see cancelMessage),
   * an id whose first cancel was committed comes back rejected as already CANCELLED:
   * `isAlreadyCancelled(result.rejected)`.
   */
  cancelMessages(messageIds: readonly string[], options: CallOptions = {}): Promise<CancelMessagesResponse> {
    return this.call(this.grpc.stub.cancelMessages, { messageIds: [...messageIds] }, options);
  }

  /**
   * Moves the send time of a message that is SCHEDULED, QUEUED or RETRYING to `sendAt` (a Date or
   * epoch ms): not later than now, it goes out at once. Setting the same time twice is harmless,
   * so it is retried after UNAVAILABLE too; but when the first call was committed with a time at
   * or before now, the message may be sending or delivered by the time the retry arrives, which
   * is then refused with FAILED_PRECONDITION (an attempt under way, or "already DELIVERED").
   * INVALID_ARGUMENT: `sendAt` beyond SCHEDULE_MAX_AHEAD_MS. NOT_FOUND as for cancelMessage.
   */
  rescheduleMessage(
    messageId: string,
    sendAt: Date | number,
    options: CallOptions = {},
  ): Promise<RescheduleMessageResponse> {
    return this.call(this.grpc.stub.rescheduleMessage, { messageId, sendAt: toTimestamp(sendAt) }, options);
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
