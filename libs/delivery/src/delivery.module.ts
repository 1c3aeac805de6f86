import { Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthModule } from '@mailgateway/auth';
import { OutboxModule } from '@mailgateway/outbox';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import { FALLBACK_MAIL_DRIVER, findDriver, MAIL_DRIVER, MailDriver } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DeliveryRoutes } from './routing/delivery-routes';
import { MailDriverSet } from './routing/mail-driver-set';
import { DnsHostResolver, HOST_RESOLVER, UpstreamRegistry } from './upstream';

/** Builds the driver called `name` through DI; the settings check has refused unknown names. */
function createDriver(moduleRef: ModuleRef, name: string): Promise<MailDriver> {
  return moduleRef.create(findDriver(name)!.driver);
}

@Module({
  imports: [OutboxModule, AuthModule],
  providers: [
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
  ],
  exports: [Dispatcher, MAIL_DRIVER, FALLBACK_MAIL_DRIVER, MailDriverSet, UpstreamRegistry],
})
export class DeliveryModule {}
