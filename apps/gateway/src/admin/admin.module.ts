import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { SuppressionModule } from '@mailgateway/suppression';
import { AdminController } from './admin.controller';

@Module({
  imports: [AuthModule, SuppressionModule],
  controllers: [AdminController],
})
export class AdminModule {}
