import { Module, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError, GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { OutboxModule } from '@mailgateway/outbox';
import { Dispatcher } from './dispatcher.service';
import { FALLBACK_MAIL_DRIVER, MAIL_DRIVER, MAIL_DRIVERS, MailDriver } from './drivers';
import { RetryPolicy } from './retry-policy';
import { DnsHostResolver, HOST_RESOLVER, UpstreamRegistry } from './upstream';

function driverClass(variable: string, name: string): Type<MailDriver> {
  const driver = MAIL_DRIVERS[name];
  if (!driver) {
    throw new ConfigurationError([
      `${variable}: unknown driver "${name}" (known: ${Object.keys(MAIL_DRIVERS).join(', ')})`,
    ]);
  }
  return driver;
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
      inject: [GATEWAY_CONFIG, ModuleRef],
      useFactory: (config: GatewayConfig, moduleRef: ModuleRef) =>
        moduleRef.create(driverClass('MAIL_DRIVER', config.delivery.driver)),
    },
    {
      provide: FALLBACK_MAIL_DRIVER,
      inject: [GATEWAY_CONFIG, ModuleRef],
      useFactory: (config: GatewayConfig, moduleRef: ModuleRef) =>
        config.delivery.fallbackDriver
          ? moduleRef.create(driverClass('FALLBACK_MAIL_DRIVER', config.delivery.fallbackDriver))
          : null,
    },
  ],
  exports: [Dispatcher, MAIL_DRIVER, FALLBACK_MAIL_DRIVER, UpstreamRegistry],
})
export class DeliveryModule {}
