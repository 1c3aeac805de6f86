import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { DeliveryModule } from '@mailgateway/delivery';
import { AdminController } from './admin.controller';

@Module({
  imports: [AuthModule, DeliveryModule],
  controllers: [AdminController],
})
export class AdminModule {}
