export * from './mail-gateway.client';
export * from './mail-gateway-admin.client';
export { advisedRetryDelayMs } from './rpc-status-details';
export type { GatewayClientOptions, RetryOptions } from './grpc-stub';
