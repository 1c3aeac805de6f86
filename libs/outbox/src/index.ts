export * from './outbox.module';
export * from './outbox.repository';
export * from './message-status';
export { OutboxMessageEntity } from './entities/outbox-message.entity';
export { MessageEventEntity } from './entities/message-event.entity';
export { TransactionRunner } from './transaction-runner';
export { openOutboxDataSource, outboxDataSourceOptions, runOutboxMigrations } from './outbox-data-source';
export { mailFingerprint } from './mail-payload';
export { bigintAsNumber } from './entities/bigint-number.transformer';
