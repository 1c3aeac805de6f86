import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { OutboxModule } from '@mailgateway/outbox';
import { ThrottlingModule } from '@mailgateway/throttling';
import { EventStreams } from './event-streams';
import { EventsController } from './events.controller';

@Module({
  imports: [OutboxModule, AuthModule, ThrottlingModule],
  controllers: [EventsController],
  providers: [EventStreams],
  exports: [EventStreams],
})
export class EventsModule {}
