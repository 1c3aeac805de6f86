import { Module } from '@nestjs/common';
import { OutboxContentKeys } from './content/outbox-content-keys';
import { OutboxEnqueuer } from './enqueue/outbox-enqueuer';
import { FeedCursors } from './feed/feed-cursors';
import { FeedSignal } from './feed/feed-signal';
import { OutboxFeed } from './feed/outbox-feed';
import { OutboxHistory } from './history/outbox-history';
import { OutboxLeases } from './leases/outbox-leases';
import { OutboxMonitor } from './outbox-monitor';
import { MessageRetention } from './retention/message-retention';
import { OutboxSchedule } from './schedule/outbox-schedule';

const OUTBOX_ROLES = [
  OutboxEnqueuer,
  OutboxLeases,
  OutboxSchedule,
  OutboxHistory,
  OutboxMonitor,
  OutboxFeed,
  FeedSignal,
  FeedCursors,
  OutboxContentKeys,
  MessageRetention,
];

/**
 * The durable outbox, by role: the accept path enqueues, the delivery path leases, callers cancel
 * or reschedule what is not sent yet, readers read a message's history or a source's feed of
 * events (woken by FeedSignal), and retention shreds and deletes what is old (RetentionLoop, which
 * the app provides with the sources' policies). Its tables (OUTBOX_SCHEMA) live in the app's one database
 * (DatabaseModule).
 */
@Module({ providers: OUTBOX_ROLES, exports: OUTBOX_ROLES })
export class OutboxModule {}
