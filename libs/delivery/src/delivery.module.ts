import { DynamicModule, Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { TransactionRunner } from '@mailgateway/database';
import { OutboxModule } from '@mailgateway/outbox';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import { FALLBACK_MAIL_DRIVER, findDriver, MAIL_DRIVER, MailDriver } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DnsHostResolver, HOST_RESOLVER, UpstreamRegistry, upstreamConfig } from './upstream';
import type { UpstreamConfig } from './upstream';
import { createUpstreamBudgetStore, RedisBudgetOptions, UPSTREAM_BUDGET_STORE } from './upstream/budget';

/** Builds the driver called `name` through DI; the settings check has refused unknown names. */
function createDriver(moduleRef: ModuleRef, name: string): Promise<MailDriver> {
  return moduleRef.create(findDriver(name)!.driver);
}

/** The dispatcher, the drivers and the upstream clients; the budget store depends on the options. */
const PROVIDERS = [
  RetryPolicy,
  Dispatcher,
  UpstreamRegistry,
  { provide: HOST_RESOLVER, useClass: DnsHostResolver },
  {
    provide: MAIL_DRIVER,
    inject: [deliveryConfig.token, ModuleRef],
    useFactory: (config: DeliveryConfig, moduleRef: ModuleRef) => createDriver(moduleRef, config.driver),
  },
  {
    provide: FALLBACK_MAIL_DRIVER,
    inject: [deliveryConfig.token, ModuleRef],
    useFactory: (config: DeliveryConfig, moduleRef: ModuleRef) =>
      config.fallbackDriver ? createDriver(moduleRef, config.fallbackDriver) : null,
  },
];

export interface DeliveryModuleOptions {
  /** The Redis replicas share (REDIS_URL), if there is one: upstream budgets are kept there. */
  readonly redis?: RedisBudgetOptions;
}

@Module({})
export class DeliveryModule {
  static forRoot(options: DeliveryModuleOptions = {}): DynamicModule {
    return {
      module: DeliveryModule,
      imports: [OutboxModule],
      providers: [
        ...PROVIDERS,
        {
          provide: UPSTREAM_BUDGET_STORE,
          inject: [upstreamConfig.token, TransactionRunner],
          useFactory: (config: UpstreamConfig, transactions: TransactionRunner) =>
            createUpstreamBudgetStore(config, options.redis, transactions),
        },
      ],
      exports: [Dispatcher, MAIL_DRIVER, FALLBACK_MAIL_DRIVER, UpstreamRegistry],
    };
  }
}
