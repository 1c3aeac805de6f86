export * from './mail-gateway.client';
export { advisedRetryDelayMs, encodeRetryInfoStatus, STATUS_DETAILS_KEY } from './rpc-status-details';
