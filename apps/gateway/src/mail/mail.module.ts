import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { OutboxModule } from '@mailgateway/outbox';
import { ThrottlingModule } from '@mailgateway/throttling';
import { MailValidator } from '@mailgateway/validation';
import { MailController } from './mail.controller';

@Module({
  imports: [OutboxModule, AuthModule, ThrottlingModule],
  controllers: [MailController],
  providers: [
    {
      provide: MailValidator,
      inject: [GATEWAY_CONFIG],
      useFactory: (config: GatewayConfig) => new MailValidator(config.limits),
    },
  ],
})
export class MailModule {}
