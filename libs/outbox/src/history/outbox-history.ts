import { Injectable } from '@nestjs/common';
import { TransactionRunner } from '@mailgateway/database';
import { MessageEventEntity } from '../entities/message-event.entity';
import { OutboxMessageEntity } from '../entities/outbox-message.entity';
import { listRecipients, MessageRecipient } from './message-recipients';

export interface MessageHistory {
  readonly message: OutboxMessageEntity;
  readonly events: MessageEventEntity[];
  /** Every recipient (to, cc, bcc, then any only events name) and where each stands. */
  readonly recipients: MessageRecipient[];
}

/** Reads of what became of a message, always scoped to the source that sent it. */
@Injectable()
export class OutboxHistory {
  constructor(private readonly transactions: TransactionRunner) {}

  /** The message, its ordered history and its recipients, or null when it does not exist or belongs to another source. */
  async find(source: string, messageId: string): Promise<MessageHistory | null> {
    return this.transactions.run(async (manager) => {
      const message = await manager.findOneBy(OutboxMessageEntity, { id: messageId, source });
      if (!message) return null;
      const events = await manager.find(MessageEventEntity, {
        where: { messageId },
        order: { sequence: 'ASC' },
      });
      return { message, events, recipients: listRecipients(message, events) };
    });
  }
}
