import { Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError, GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { OutboxModule } from '@mailgateway/outbox';
import { Dispatcher } from './dispatcher.service';
import { MAIL_DRIVER, MAIL_DRIVERS } from './drivers';
import { RetryPolicy } from './retry-policy';

@Module({
  imports: [OutboxModule],
  providers: [
    RetryPolicy,
    Dispatcher,
    {
      provide: MAIL_DRIVER,
      inject: [GATEWAY_CONFIG, ModuleRef],
      useFactory: (config: GatewayConfig, moduleRef: ModuleRef) => {
        const driver = MAIL_DRIVERS[config.delivery.driver];
        if (!driver) {
          throw new ConfigurationError([
            `MAIL_DRIVER: unknown driver "${config.delivery.driver}" (known: ${Object.keys(MAIL_DRIVERS).join(', ')})`,
          ]);
        }
        return moduleRef.create(driver);
      },
    },
  ],
  exports: [Dispatcher, MAIL_DRIVER],
})
export class DeliveryModule {}
