export { AddressErasure, ERASED_CANCEL_DETAIL, ERASURE_BATCH_SIZE } from './address-erasure.service';
export type { ErasureRequest, ErasureResult } from './address-erasure.service';
export { AddressRedaction } from './address-redaction';
export { ErasureRecordEntity } from './erasure-record.entity';
export { ERASURE_SCHEMA } from './erasure.schema';
export { ErasureModule } from './erasure.module';
