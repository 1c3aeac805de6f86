import { DynamicModule, Module } from '@nestjs/common';
import { OutboxModule } from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { FeedbackProcessor } from './processing/feedback-processor.service';

/**
 * Provider feedback: the processor applies stored notifications to their messages' recipients
 * and the suppression list. Its tables (FEEDBACK_SCHEMA) live in the app's one database.
 */
@Module({})
export class FeedbackModule {
  static forRoot(): DynamicModule {
    return {
      module: FeedbackModule,
      imports: [OutboxModule],
      providers: [FeedbackProcessor, SuppressionList],
      exports: [FeedbackProcessor],
    };
  }
}
