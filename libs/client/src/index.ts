export * from './mail-gateway.client';
