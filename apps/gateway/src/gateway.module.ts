import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, GatewayConfig } from '@mailgateway/config';
import { DeliveryModule } from '@mailgateway/delivery';
import { Observability, ObservabilityModule } from '@mailgateway/observability';
import { AdminModule } from './admin/admin.module';
import { MailModule } from './mail/mail.module';
import { OperationsModule } from './operations/operations.module';

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig, observability: Observability): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot(observability),
        MailModule,
        AdminModule,
        DeliveryModule,
        OperationsModule,
      ],
    };
  }
}
