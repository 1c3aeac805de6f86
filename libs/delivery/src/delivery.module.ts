import { DynamicModule, Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthModule } from '@mailgateway/auth';
import { TransactionRunner } from '@mailgateway/database';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionModule } from '@mailgateway/suppression';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import { FALLBACK_MAIL_DRIVER, findDriver, MAIL_DRIVER, MailDriver } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';
import { MailDriverSet } from './routing/mail-driver-set';
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
  DeliveryRoutes,
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
  {
    provide: MailDriverSet,
    inject: [deliveryConfig.token, ModuleRef, MAIL_DRIVER, FALLBACK_MAIL_DRIVER],
    useFactory: async (
      config: DeliveryConfig,
      moduleRef: ModuleRef,
      primary: MailDriver,
      fallback: MailDriver | null,
    ) => {
      const started = new Set([primary.name, fallback?.name, config.driver, config.fallbackDriver]);
      const extras = config.extraDrivers.filter((name) => !started.has(name));
      return new MailDriverSet(
        primary,
        fallback,
        await Promise.all(extras.map((name) => createDriver(moduleRef, name))),
      );
    },
  },
];

export interface DeliveryModuleOptions {
  /** The Redis replicas share (REDIS_URL), if there is one: upstream budgets are kept there. */
  readonly redis?: RedisBudgetOptions;
}

@Module({})
export class DeliveryModule {
  /**
   * Global, once per app: the admin RPCs check sources' driver chains against MailDriverSet, and
   * a second instance would start a second set of drivers and upstream pools.
   */
  static forRoot(options: DeliveryModuleOptions = {}): DynamicModule {
    return {
      module: DeliveryModule,
      global: true,
      imports: [OutboxModule, AuthModule, SuppressionModule],
      providers: [
        ...PROVIDERS,
        {
          provide: UPSTREAM_BUDGET_STORE,
          inject: [upstreamConfig.token, TransactionRunner],
          useFactory: (config: UpstreamConfig, transactions: TransactionRunner) =>
            createUpstreamBudgetStore(config, options.redis, transactions),
        },
      ],
      exports: [Dispatcher, MAIL_DRIVER, FALLBACK_MAIL_DRIVER, MailDriverSet, UpstreamRegistry],
    };
  }
}
