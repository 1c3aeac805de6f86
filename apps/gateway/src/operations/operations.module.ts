import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { OutboxModule } from '@mailgateway/outbox';
import { GrpcCallInterceptor } from './grpc-call.interceptor';
import { ReadinessMonitor } from './readiness-monitor';

/** What the platform sees of the process: readiness, and telemetry for every call. */
@Module({
  imports: [OutboxModule],
  providers: [ReadinessMonitor, { provide: APP_INTERCEPTOR, useClass: GrpcCallInterceptor }],
})
export class OperationsModule {}
