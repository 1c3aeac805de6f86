import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, LoadedConfig } from '@mailgateway/config';
import { DatabaseModule } from '@mailgateway/database';
import { DeliveryModule } from '@mailgateway/delivery';
import { EncryptionModule } from '@mailgateway/encryption';
import { ErasureModule } from '@mailgateway/erasure';
import { FeedbackModule } from '@mailgateway/feedback';
import { Observability, ObservabilityModule } from '@mailgateway/observability';
import { throttlingConfig } from '@mailgateway/throttling';
import { AdminModule } from './admin/admin.module';
import { EventsModule } from './events/events.module';
import { GATEWAY_SCHEMA } from './gateway-config';
import { MailModule } from './mail/mail.module';
import { OperationsModule } from './operations/operations.module';
import { RetentionModule } from './retention/retention.module';

@Module({})
export class GatewayModule {
  static forRoot(config: LoadedConfig, observability: Observability): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot(observability),
        DatabaseModule.forRoot(GATEWAY_SCHEMA),
        EncryptionModule,
        ErasureModule,
        MailModule,
        EventsModule,
        AdminModule,
        // Upstream budgets are shared through the Redis the rate limits use, when there is one.
        DeliveryModule.forRoot({ redis: config.get(throttlingConfig).redis }),
        FeedbackModule.forRoot(),
        OperationsModule,
        RetentionModule,
      ],
    };
  }
}
