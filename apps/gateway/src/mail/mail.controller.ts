import type { Metadata } from '@grpc/grpc-js';
import { Controller, UseGuards } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { AuthGuard, enforceSourcePolicy, Principal, principalOf, RequireRole, Role } from '@mailgateway/auth';
import { InjectConfig } from '@mailgateway/config';
import {
  GetMessageRequest,
  GetMessageResponse,
  MAIL_GATEWAY_SERVICE_NAME,
  MailGatewayController,
  Mail,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailBatchResult,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { GatewayException } from '@mailgateway/errors';
import { Tracing } from '@mailgateway/observability';
import { EnqueueRequest, OutboxEnqueuer, OutboxHistory } from '@mailgateway/outbox';
import { NoRateLimit, RpcThrottlerGuard, ThrottleCost } from '@mailgateway/throttling';
import {
  MailValidator,
  ValidationConfig,
  validationConfig,
  ValidationException,
} from '@mailgateway/validation';
import { batchRejectionOf } from '../grpc-status';
import { IdempotencyConflictException } from './idempotency-conflict.exception';
import { isMessageId, toGetMessageResponse, toSendMailResponse } from './mail.mapper';
import { MessageNotFoundException } from './message-not-found.exception';

/** Sending and looking up messages: checks the caller and the call, then hands over to the outbox. */
@Controller()
@UseGuards(AuthGuard, RpcThrottlerGuard)
export class MailController implements Pick<
  MailGatewayController,
  'sendMail' | 'sendMailBatch' | 'getMessage'
> {
  constructor(
    private readonly validator: MailValidator,
    private readonly outbox: OutboxEnqueuer,
    private readonly history: OutboxHistory,
    @InjectConfig(validationConfig) private readonly limits: ValidationConfig,
    private readonly tracing: Tracing,
  ) {}

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  async sendMail(request: SendMailRequest, metadata?: Metadata): Promise<SendMailResponse> {
    const principal = principalOf(metadata);
    // Under overload, refuse before spending time on validation.
    this.outbox.admit(1);
    this.validator.validate(request);
    enforceSourcePolicy(principal, request.mail as Mail);
    const [result] = await this.outbox.enqueue([this.toEnqueueRequest(principal, request)]);
    if (result.kind === 'idempotency-conflict') throw new IdempotencyConflictException();
    return toSendMailResponse(result.messageId, result.acceptedAt, result.replayed);
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @ThrottleCost<SendMailBatchRequest>(({ items }) => items.length)
  async sendMailBatch({ items }: SendMailBatchRequest, metadata?: Metadata): Promise<SendMailBatchResponse> {
    const principal = principalOf(metadata);
    const { maxBatchItems } = this.limits;
    if (items.length === 0) throw new ValidationException('items', 'at least one item is required');
    if (items.length > maxBatchItems) {
      throw new ValidationException('items', `${items.length} items; the limit is ${maxBatchItems} per call`);
    }
    this.outbox.admit(items.length);
    const results: SendMailBatchResult[] = new Array(items.length);
    const valid: number[] = [];
    items.forEach((item, index) => {
      try {
        this.validator.validate(item);
        enforceSourcePolicy(principal, item.mail as Mail);
        valid.push(index);
      } catch (error) {
        // A fault in one of the item's fields is that item's alone; anything else fails the call.
        if (!isFieldError(error)) throw error;
        results[index] = { index, rejected: batchRejectionOf(error) };
      }
    });
    const enqueued = await this.outbox.enqueue(
      valid.map((index) => this.toEnqueueRequest(principal, items[index])),
    );
    enqueued.forEach((result, position) => {
      const index = valid[position];
      results[index] =
        result.kind === 'accepted'
          ? { index, accepted: toSendMailResponse(result.messageId, result.acceptedAt, result.replayed) }
          : { index, rejected: batchRejectionOf(new IdempotencyConflictException()) };
    });
    return { results };
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailRead)
  @NoRateLimit()
  async getMessage({ messageId }: GetMessageRequest, metadata?: Metadata): Promise<GetMessageResponse> {
    const { source } = principalOf(metadata);
    if (!messageId) throw new ValidationException('message_id', 'required');
    if (!isMessageId(messageId)) throw new ValidationException('message_id', 'must be a message id (a UUID)');
    // Scoped to the caller: another source's id is NOT_FOUND, exactly like an id that does not exist.
    const history = await this.history.find(source, messageId);
    if (!history) throw new MessageNotFoundException();
    return toGetMessageResponse(history);
  }

  private toEnqueueRequest(principal: Principal, request: SendMailRequest): EnqueueRequest {
    return {
      source: principal.source,
      idempotencyKey: request.idempotencyKey || null,
      mail: request.mail as Mail,
      // The call's span (a child of the caller's), so the upstream request continues the trace.
      traceparent: this.tracing.currentTraceparent(),
    };
  }
}

function isFieldError(error: unknown): error is GatewayException & { readonly field: string } {
  return error instanceof GatewayException && error.field !== undefined;
}
