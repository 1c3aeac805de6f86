import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionModule } from '@mailgateway/suppression';
import { AdminController } from './admin.controller';

@Module({
  imports: [AuthModule, OutboxModule, SuppressionModule],
  controllers: [AdminController],
})
export class AdminModule {}
