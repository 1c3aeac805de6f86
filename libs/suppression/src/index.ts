export { ALL_SOURCES, SuppressionReason } from './suppression';
export type { NewSuppression, Suppression } from './suppression';
export { SuppressionList } from './suppression-list.service';
