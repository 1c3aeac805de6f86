export * from './host-resolver';
export * from './upstream-registry';
export * from './upstream.errors';
export * from './upstream.types';
export type { AddressStatistics } from './address-book';
export type { UpstreamClient } from './upstream-client';
export { withTraceparent } from './trace-context';
