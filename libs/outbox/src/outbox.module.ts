import { Module } from '@nestjs/common';
import { OutboxEnqueuer } from './enqueue/outbox-enqueuer';
import { OutboxHistory } from './history/outbox-history';
import { OutboxLeases } from './leases/outbox-leases';
import { OutboxMonitor } from './outbox-monitor';

/**
 * The durable outbox, by role: the accept path enqueues, the delivery path leases, readers read
 * history. Its tables (OUTBOX_SCHEMA) live in the app's one database (DatabaseModule).
 */
@Module({
  providers: [OutboxEnqueuer, OutboxLeases, OutboxHistory, OutboxMonitor],
  exports: [OutboxEnqueuer, OutboxLeases, OutboxHistory, OutboxMonitor],
})
export class OutboxModule {}
