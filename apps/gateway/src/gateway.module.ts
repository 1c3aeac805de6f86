import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, GatewayConfig } from '@mailgateway/config';
import { DeliveryModule } from '@mailgateway/delivery';
import { AdminModule } from './admin/admin.module';
import { MailModule } from './mail/mail.module';

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [ConfigModule.forRoot(config), MailModule, AdminModule, DeliveryModule],
    };
  }
}
