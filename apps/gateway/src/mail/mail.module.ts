import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionModule } from '@mailgateway/suppression';
import { ThrottlingModule } from '@mailgateway/throttling';
import { ValidationModule } from '@mailgateway/validation';
import { MailController } from './mail.controller';

@Module({
  imports: [OutboxModule, AuthModule, ThrottlingModule, ValidationModule, SuppressionModule],
  controllers: [MailController],
})
export class MailModule {}
