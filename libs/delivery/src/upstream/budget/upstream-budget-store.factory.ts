import { Logger } from '@nestjs/common';
import type { TransactionRunner } from '@mailgateway/database';
import type { UpstreamConfig } from '../upstream.settings';
import { DatabaseUpstreamBudgetStore } from './database-upstream-budget.store';
import { fleetTimings } from './fleet-timings';
import { MemoryUpstreamBudgetStore } from './memory-upstream-budget.store';
import { RedisBudgetOptions, RedisUpstreamBudgetStore } from './redis-upstream-budget.store';
import type { UpstreamBudgetStore } from './upstream-budget-store.interface';

/** Chooses where replicas share upstream budgets (UPSTREAM_BUDGET_STORE; auto: Redis, else the database). */
export async function createUpstreamBudgetStore(
  config: UpstreamConfig,
  redis: RedisBudgetOptions | undefined,
  transactions: TransactionRunner,
): Promise<UpstreamBudgetStore> {
  const timings = fleetTimings(config);
  const kind = config.budget.store === 'auto' ? (redis ? 'redis' : 'database') : config.budget.store;
  const logger = new Logger('UpstreamBudget');
  switch (kind) {
    case 'redis': {
      if (!redis) throw new Error('UPSTREAM_BUDGET_STORE is "redis" but REDIS_URL is not set');
      const store = new RedisUpstreamBudgetStore(redis, timings);
      await store.connect();
      logger.log('Upstream budgets are shared by the fleet through Redis');
      return store;
    }
    case 'database':
      logger.log(`Upstream budgets are shared by the fleet through the database (${transactions.dialect})`);
      return new DatabaseUpstreamBudgetStore(transactions, timings);
    case 'process':
      logger.log('Upstream budgets apply to this process alone (UPSTREAM_BUDGET_STORE=process)');
      return new MemoryUpstreamBudgetStore(timings);
  }
}
