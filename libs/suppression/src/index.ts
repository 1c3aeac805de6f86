export { ALL_SOURCES, SuppressionReason } from './suppression';
export type { NewSuppression, Suppression } from './suppression';
export { SuppressionList } from './suppression-list.service';
export type {
  ManualSuppression,
  SuppressionPage,
  SuppressionLookup,
  SuppressionQuery,
  SuppressionRemoval,
} from './suppression-list.service';
export { SuppressionModule } from './suppression.module';
export { SUPPRESSION_SCHEMA } from './suppression.schema';
export { SuppressionException, SuppressionProblem } from './suppression.exception';
export { ERASED_ADDRESS_HASH } from './erased-address-hash';
export type { ErasedAddressHash } from './erased-address-hash';
export { ExpiredSuppressions } from './expired-suppressions';
