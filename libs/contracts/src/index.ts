export * from './generated/mailgateway/v1/mail_gateway';
export * from './generated/mailgateway/v1/admin';
export type { Timestamp } from './generated/google/protobuf/timestamp';
export * from './proto-files';
export * from './status-details';
export * from './provider-correlation';
