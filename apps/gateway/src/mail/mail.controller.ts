import { Controller, Inject } from '@nestjs/common';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import {
  GetMessageRequest,
  GetMessageResponse,
  MailGatewayController,
  MailGatewayControllerMethods,
  Mail,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailBatchResult,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { Tracing } from '@mailgateway/observability';
import { OutboxRepository } from '@mailgateway/outbox';
import { MailValidator, ValidationException } from '@mailgateway/validation';
import { IdempotencyConflictException, MessageNotFoundException } from './mail.exceptions';
import { toGetMessageResponse, toSendMailResponse } from './mail.mapper';

const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The gRPC surface: checks the call, then hands over to the outbox. */
@Controller()
@MailGatewayControllerMethods()
export class MailController implements MailGatewayController {
  constructor(
    private readonly validator: MailValidator,
    private readonly outbox: OutboxRepository,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly tracing: Tracing,
  ) {}

  async sendMail(request: SendMailRequest): Promise<SendMailResponse> {
    this.validator.validate(request);
    const [result] = await this.outbox.enqueue([this.toEnqueueRequest(request)]);
    if (result.kind === 'idempotency-conflict') throw new IdempotencyConflictException();
    return toSendMailResponse(result.messageId, result.acceptedAt, result.replayed);
  }

  async sendMailBatch({ items }: SendMailBatchRequest): Promise<SendMailBatchResponse> {
    const { maxBatchItems } = this.config.limits;
    if (items.length === 0) throw new ValidationException('items', 'at least one item is required');
    if (items.length > maxBatchItems) {
      throw new ValidationException('items', `${items.length} items; the limit is ${maxBatchItems} per call`);
    }
    const results: SendMailBatchResult[] = new Array(items.length);
    const valid: number[] = [];
    items.forEach((item, index) => {
      try {
        this.validator.validate(item);
        valid.push(index);
      } catch (error) {
        if (!(error instanceof ValidationException)) throw error;
        results[index] = {
          index,
          rejected: { code: 'INVALID_ARGUMENT', field: error.field, reason: error.reason },
        };
      }
    });
    const enqueued = await this.outbox.enqueue(valid.map((index) => this.toEnqueueRequest(items[index])));
    enqueued.forEach((result, position) => {
      const index = valid[position];
      results[index] =
        result.kind === 'accepted'
          ? { index, accepted: toSendMailResponse(result.messageId, result.acceptedAt, result.replayed) }
          : {
              index,
              rejected: {
                code: 'INVALID_ARGUMENT',
                field: 'idempotency_key',
                reason: new IdempotencyConflictException().message,
              },
            };
    });
    return { results };
  }

  async getMessage({ messageId }: GetMessageRequest): Promise<GetMessageResponse> {
    if (!messageId) throw new ValidationException('message_id', 'required');
    if (!MESSAGE_ID.test(messageId))
      throw new ValidationException('message_id', 'must be a message id (a UUID)');
    const history = await this.outbox.findHistory(this.config.defaultSource, messageId);
    if (!history) throw new MessageNotFoundException();
    return toGetMessageResponse(history);
  }

  private toEnqueueRequest(request: SendMailRequest) {
    return {
      source: this.config.defaultSource,
      idempotencyKey: request.idempotencyKey || null,
      mail: request.mail as Mail,
      // The call's span (a child of the caller's), so the upstream request continues the trace.
      traceparent: this.tracing.currentTraceparent(),
    };
  }
}
