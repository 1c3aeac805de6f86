import type { DatabaseSchema } from '@mailgateway/database';
import { MessageEventEntity } from './entities/message-event.entity';
import { OutboxMessageEntity } from './entities/outbox-message.entity';
import { CreateOutbox1763700000000 } from './migrations/1763700000000-create-outbox';
import { AddMessageTraceparent1795240975003 } from './migrations/1795240975003-add-message-traceparent';
import { AddEventFeed1796140800000 } from './migrations/1796140800000-add-event-feed';
import { AddScheduling1796227200000 } from './migrations/1796227200000-add-scheduling';
import { AddAttemptRouting1796313600000 } from './migrations/1796313600000-add-attempt-routing';
import { IndexProviderMessageId1796400000003 } from './migrations/1796400000003-index-provider-message-id';
import { AddContentEncryption1796500000000 } from './migrations/1796500000000-add-content-encryption';
import { IndexRetention1796500200000 } from './migrations/1796500200000-index-retention';
import { WidenFeedStateName1796500200004 } from './migrations/1796500200004-widen-feed-state-name';
import { LowercaseEventRecipients1796500300002 } from './migrations/1796500300002-lowercase-event-recipients';

/** The outbox's tables. A new migration is a new file in migrations/ and a line here. */
export const OUTBOX_SCHEMA: DatabaseSchema = {
  entities: [OutboxMessageEntity, MessageEventEntity],
  migrations: [
    CreateOutbox1763700000000,
    AddMessageTraceparent1795240975003,
    AddEventFeed1796140800000,
    AddScheduling1796227200000,
    AddAttemptRouting1796313600000,
    IndexProviderMessageId1796400000003,
    AddContentEncryption1796500000000,
    IndexRetention1796500200000,
    WidenFeedStateName1796500200004,
    LowercaseEventRecipients1796500300002,
  ],
};
