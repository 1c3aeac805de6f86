export * from './outbox.module';
export * from './outbox.repository';
export * from './outbox-monitor';
export * from './message-status';
export { OutboxMessageEntity } from './entities/outbox-message.entity';
export { MessageEventEntity } from './entities/message-event.entity';
export { openOutboxDataSource, outboxDataSourceOptions, runOutboxMigrations } from './outbox-data-source';
export { mailFingerprint } from './mail-payload';
export { OutboxOverloadedException } from './outbox-overloaded.exception';
