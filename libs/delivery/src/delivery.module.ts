import { Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OutboxModule } from '@mailgateway/outbox';
import { DeliveryConfig, deliveryConfig } from './delivery.settings';
import { Dispatcher } from './dispatcher.service';
import { FALLBACK_MAIL_DRIVER, findDriver, MAIL_DRIVER, MailDriver } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DnsHostResolver, HOST_RESOLVER, UpstreamRegistry } from './upstream';

/** Builds the driver called `name` through DI; the settings check has refused unknown names. */
function createDriver(moduleRef: ModuleRef, name: string): Promise<MailDriver> {
  return moduleRef.create(findDriver(name)!.driver);
}

@Module({
  imports: [OutboxModule],
  providers: [
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
  ],
  exports: [Dispatcher, MAIL_DRIVER, FALLBACK_MAIL_DRIVER, UpstreamRegistry],
})
export class DeliveryModule {}
