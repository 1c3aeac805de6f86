export * from './delivery.module';
export * from './dispatcher.service';
export * from './retry-policy';
export * from './drivers';
export * from './upstream';
export * from './mime';
