export { UPSTREAM_BUDGET_STORE } from './upstream-budget-store.interface';
export type {
  FleetTimings,
  HoldingReport,
  PermitDecision,
  UpstreamBudgetStore,
} from './upstream-budget-store.interface';
export type { ConnectionDecision, FleetHolding, FleetView } from './fair-share';
export { decideConnection, shareAt } from './fair-share';
export { MemoryUpstreamBudgetStore } from './memory-upstream-budget.store';
export { RedisUpstreamBudgetStore } from './redis-upstream-budget.store';
export type { RedisBudgetOptions } from './redis-upstream-budget.store';
export { DatabaseUpstreamBudgetStore } from './database-upstream-budget.store';
export { createUpstreamBudgetStore } from './upstream-budget-store.factory';
export { fleetTimings } from './fleet-timings';
