export * from './generated/mailgateway/v1/mail_gateway';
export type { Timestamp } from './generated/google/protobuf/timestamp';
export * from './proto-files';
