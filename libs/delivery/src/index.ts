export * from './delivery.module';
export { DELIVERY_SCHEMA } from './delivery.schema';
export { DELIVERY_CONFIG_SLICES, deliveryConfig } from './delivery.settings';
export type { DeliveryConfig } from './delivery.settings';
export * from './dispatcher.service';
export * from './retry-policy';
export * from './drivers';
export * from './upstream';
export * from './mime';
