export { ALL_SOURCES, SuppressionReason } from './suppression';
export type { NewSuppression, Suppression } from './suppression';
export { SuppressionList } from './suppression-list.service';
export type {
  ManualSuppression,
  SuppressionPage,
  SuppressionQuery,
  SuppressionRemoval,
} from './suppression-list.service';
export { SuppressionModule } from './suppression.module';
export { SUPPRESSION_SCHEMA } from './suppression.schema';
export { SuppressionException, SuppressionProblem } from './suppression.exception';
