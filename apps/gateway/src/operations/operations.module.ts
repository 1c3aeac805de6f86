import { Module } from '@nestjs/common';
import { OutboxModule } from '@mailgateway/outbox';
import { ReadinessMonitor } from './readiness-monitor';

/** What the platform sees of the process: readiness (each call's telemetry is the transport's, GatewayGrpcServer). */
@Module({
  imports: [OutboxModule],
  providers: [ReadinessMonitor],
})
export class OperationsModule {}
