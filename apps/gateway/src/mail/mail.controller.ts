import type { Metadata } from '@grpc/grpc-js';
import { Controller, Optional, UseGuards } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import {
  AuthGuard,
  CredentialCheckedAtCommit,
  enforceSourcePolicy,
  Principal,
  principalOf,
  RequireRole,
  AuthenticationException,
  AuthenticationFailure,
  Role,
  SuppressedRecipientsMode,
} from '@mailgateway/auth';
import { InjectConfig } from '@mailgateway/config';
import {
  CancelMessageRequest,
  CancelMessageResponse,
  CancelMessagesRequest,
  CancelMessagesResponse,
  GetMessageRequest,
  GetMessageResponse,
  MAIL_GATEWAY_SERVICE_NAME,
  MailGatewayController,
  Mail,
  RescheduleMessageRequest,
  RescheduleMessageResponse,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailBatchResult,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { GatewayException } from '@mailgateway/errors';
import { GatewayMetrics, Tracing } from '@mailgateway/observability';
import {
  CancelResult,
  EnqueueRequest,
  OutboxEnqueuer,
  OutboxHistory,
  OutboxSchedule,
  recipientAddresses,
  SuppressedRecipient,
} from '@mailgateway/outbox';
import { Suppression, SuppressionList } from '@mailgateway/suppression';
import { NoRateLimit, RpcThrottlerGuard, ThrottleCost } from '@mailgateway/throttling';
import {
  MailValidator,
  ValidationConfig,
  validationConfig,
  ValidationException,
} from '@mailgateway/validation';
import { batchRejectionOf } from '../grpc-status';
import { IdempotencyConflictException } from './idempotency-conflict.exception';
import { isMessageId, STATUS, toGetMessageResponse, toSendMailResponse, toTimestamp } from './mail.mapper';
import { MessageNotFoundException } from './message-not-found.exception';
import { MessageNotWaitingException } from './message-not-waiting.exception';
import { SuppressedRecipientException } from './suppressed-recipient.exception';

/** The most ids one CancelMessages call may carry (part of the contract). */
const MAX_CANCEL_IDS = 1_000;

/** Sending, looking up, cancelling and rescheduling messages: checks the caller and the call, then hands over to the outbox. */
@Controller()
@UseGuards(AuthGuard, RpcThrottlerGuard)
export class MailController implements Pick<
  MailGatewayController,
  'sendMail' | 'sendMailBatch' | 'getMessage' | 'cancelMessage' | 'cancelMessages' | 'rescheduleMessage'
> {
  constructor(
    private readonly validator: MailValidator,
    private readonly outbox: OutboxEnqueuer,
    private readonly history: OutboxHistory,
    private readonly schedule: OutboxSchedule,
    @InjectConfig(validationConfig) private readonly limits: ValidationConfig,
    private readonly tracing: Tracing,
    private readonly suppressions: SuppressionList,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {}

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @CredentialCheckedAtCommit()
  async sendMail(request: SendMailRequest, metadata?: Metadata): Promise<SendMailResponse> {
    const principal = principalOf(metadata);
    // Under overload, refuse before spending time on validation.
    this.outbox.admit(1);
    this.validator.validate(request);
    enforceSourcePolicy(principal, request.mail as Mail);
    const suppressed = await this.findSuppressed(principal, [request]);
    const [result] = await this.outbox.enqueue([this.toEnqueueRequest(principal, request, suppressed)]);
    if (result.kind === 'credential-refused') throw credentialRefused(result.failure);
    if (result.kind === 'idempotency-conflict') throw new IdempotencyConflictException();
    if (result.kind === 'suppressed-refused') {
      throw new SuppressedRecipientException(request.mail as Mail, result.suppressed);
    }
    this.countSuppressed(principal, result.suppressedRecipients.length);
    return toSendMailResponse(
      result.messageId,
      result.acceptedAt,
      result.replayed,
      result.suppressedRecipients,
    );
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @CredentialCheckedAtCommit()
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
    const suppressed = await this.findSuppressed(
      principal,
      valid.map((index) => items[index]),
    );
    const enqueued = await this.outbox.enqueue(
      valid.map((index) => this.toEnqueueRequest(principal, items[index], suppressed)),
    );
    // Every item carries the call's one key: refused for one, the call is refused.
    const refused = enqueued.find((result) => result.kind === 'credential-refused');
    if (refused) throw credentialRefused(refused.failure);
    let suppressedCount = 0;
    enqueued.forEach((result, position) => {
      const index = valid[position];
      if (result.kind === 'accepted') {
        suppressedCount += result.suppressedRecipients.length;
        const { messageId, acceptedAt, replayed, suppressedRecipients } = result;
        results[index] = {
          index,
          accepted: toSendMailResponse(messageId, acceptedAt, replayed, suppressedRecipients),
        };
      } else {
        const refusal =
          result.kind === 'suppressed-refused'
            ? new SuppressedRecipientException(items[index].mail as Mail, result.suppressed)
            : new IdempotencyConflictException();
        results[index] = { index, rejected: batchRejectionOf(refusal) };
      }
    });
    this.countSuppressed(principal, suppressedCount);
    return { results };
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailRead)
  @NoRateLimit()
  async getMessage({ messageId }: GetMessageRequest, metadata?: Metadata): Promise<GetMessageResponse> {
    const { source } = principalOf(metadata);
    checkMessageId(messageId, 'message_id');
    // Scoped to the caller: another source's id is NOT_FOUND, exactly like an id that does not exist.
    const history = await this.history.find(source, messageId);
    if (!history) throw new MessageNotFoundException();
    return toGetMessageResponse(history);
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @NoRateLimit()
  async cancelMessage(
    { messageId }: CancelMessageRequest,
    metadata?: Metadata,
  ): Promise<CancelMessageResponse> {
    const { source } = principalOf(metadata);
    checkMessageId(messageId, 'message_id');
    const [result] = await this.schedule.cancel(source, [messageId]);
    return toCancelResponse(messageId, result);
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @NoRateLimit()
  async cancelMessages(
    { messageIds }: CancelMessagesRequest,
    metadata?: Metadata,
  ): Promise<CancelMessagesResponse> {
    const { source } = principalOf(metadata);
    if (messageIds.length === 0) throw new ValidationException('message_ids', 'at least one id is required');
    if (messageIds.length > MAX_CANCEL_IDS) {
      throw new ValidationException(
        'message_ids',
        `${messageIds.length} ids; the limit is ${MAX_CANCEL_IDS} per call`,
      );
    }
    const valid = messageIds.filter(isMessageId);
    const answered = await this.schedule.cancel(source, valid);
    const results = new Map<string, CancelResult>(valid.map((id, index) => [id, answered[index]]));
    return {
      results: messageIds.map((messageId, index) => {
        try {
          checkMessageId(messageId, `message_ids[${index}]`);
          return { messageId, cancelled: toCancelResponse(messageId, results.get(messageId)!) };
        } catch (error) {
          if (!(error instanceof GatewayException)) throw error;
          // Each id's fault is its own, named by its place in the request.
          return {
            messageId,
            rejected: { ...batchRejectionOf(error), field: `message_ids[${index}]` },
          };
        }
      }),
    };
  }

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailSend)
  @NoRateLimit()
  async rescheduleMessage(
    { messageId, sendAt }: RescheduleMessageRequest,
    metadata?: Metadata,
  ): Promise<RescheduleMessageResponse> {
    const { source } = principalOf(metadata);
    checkMessageId(messageId, 'message_id');
    const at = this.validator.sendTime(sendAt);
    if (at === null) throw new ValidationException('send_at', 'required');
    const result = await this.schedule.reschedule(source, messageId, at);
    if (result.kind === 'not-found') throw new MessageNotFoundException();
    if (result.kind !== 'rescheduled') throw new MessageNotWaitingException(result, 'reschedule');
    return { messageId, status: STATUS[result.status], sendAt: toTimestamp(result.sendAt) };
  }

  /**
   * The suppression entries of every recipient of these requests, in one lookup: a batch's items
   * share the caller's source.
   */
  private async findSuppressed(
    { source }: Principal,
    requests: readonly SendMailRequest[],
  ): Promise<ReadonlyMap<string, Suppression>> {
    const addresses = [...new Set(requests.flatMap((request) => recipientAddresses(request.mail as Mail)))];
    return addresses.length > 0 ? this.suppressions.findShared(source, addresses) : new Map();
  }

  private countSuppressed({ source }: Principal, count: number): void {
    if (count > 0) this.metrics?.suppressedRecipients.inc({ source, stage: 'accept' }, count);
  }

  private toEnqueueRequest(
    principal: Principal,
    request: SendMailRequest,
    suppressions: ReadonlyMap<string, Suppression>,
  ): EnqueueRequest {
    const suppressed = recipientAddresses(request.mail as Mail).flatMap((address): SuppressedRecipient[] => {
      const entry = suppressions.get(address);
      return entry ? [{ address, reason: entry.reason, scope: entry.scope }] : [];
    });
    return {
      suppressed,
      refuseSuppressed: principal.policy.suppressedRecipients === SuppressedRecipientsMode.Refuse,
      source: principal.source,
      // The commit stores the message only if this key is still valid then (CredentialCheckedAtCommit).
      apiKeyPrefix: principal.credential.kind === 'api-key' ? principal.credential.prefix : null,
      idempotencyKey: request.idempotencyKey || null,
      mail: request.mail as Mail,
      // The call's span (a child of the caller's), so the upstream request continues the trace.
      traceparent: this.tracing.currentTraceparent(),
      sendAt: this.validator.sendTime(request.sendAt),
    };
  }
}

function checkMessageId(messageId: string, field: string): void {
  if (!messageId) throw new ValidationException(field, 'required');
  if (!isMessageId(messageId)) throw new ValidationException(field, 'must be a message id (a UUID)');
}

function toCancelResponse(messageId: string, result: CancelResult): CancelMessageResponse {
  if (result.kind === 'not-found') throw new MessageNotFoundException();
  if (result.kind !== 'cancelled') throw new MessageNotWaitingException(result, 'cancel');
  return { messageId, cancelledAt: toTimestamp(result.cancelledAt) };
}

function isFieldError(error: unknown): error is GatewayException & { readonly field: string } {
  return error instanceof GatewayException && error.field !== undefined;
}

/** The commit found the call's API key no longer valid (revoked or expired since it was checked). */
function credentialRefused(failure: 'revoked' | 'expired' | 'unknown'): AuthenticationException {
  return new AuthenticationException(
    failure === 'revoked'
      ? AuthenticationFailure.Revoked
      : failure === 'expired'
        ? AuthenticationFailure.Expired
        : AuthenticationFailure.Unknown,
  );
}
