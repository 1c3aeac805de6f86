import { Module } from '@nestjs/common';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { OutboxModule } from '@mailgateway/outbox';
import { MailValidator } from '@mailgateway/validation';
import { MailController } from './mail.controller';

@Module({
  imports: [OutboxModule],
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
