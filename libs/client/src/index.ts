export * from './mail-gateway.client';
export * from './mail-gateway-admin.client';
export * from './gateway-client-options';
export { advisedRetryDelayMs, decodeStatusDetails } from './retry-advice';
export type { DecodedStatus } from './retry-advice';
export { MAIL_GATEWAY_ADMIN_PROTO_PATH, MAIL_GATEWAY_PROTO_PATH, PROTO_ROOT } from './proto-files';
export * from './generated/mailgateway/v1/mail_gateway';
export * from './generated/mailgateway/v1/admin';
export type { Timestamp } from './generated/google/protobuf/timestamp';
