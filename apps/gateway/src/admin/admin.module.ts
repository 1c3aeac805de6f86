import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { AdminController } from './admin.controller';

@Module({
  imports: [AuthModule],
  controllers: [AdminController],
})
export class AdminModule {}
