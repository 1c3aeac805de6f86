export * from './mail-gateway.client';
export * from './mail-gateway-admin.client';
export type { GatewayClientOptions } from './grpc-stub';
