import { Module } from '@nestjs/common';
import { AuthModule } from '@mailgateway/auth';
import { ProviderNotificationRetention } from '@mailgateway/feedback';
import {
  OutboxModule,
  RETENTION_SWEEPS,
  RetentionLoop,
  RetentionSweep,
  SOURCE_RETENTION_POLICIES,
} from '@mailgateway/outbox';
import { ExpiredSuppressions } from '@mailgateway/suppression';
import { SourceRetentionFromPolicies } from './source-retention-policies';

/**
 * Retention, wired: the outbox's loop with the sources' policies (from auth) and the other
 * tables that keep rows only for a while (provider notifications, expired suppressions).
 */
@Module({
  imports: [OutboxModule, AuthModule],
  providers: [
    RetentionLoop,
    ProviderNotificationRetention,
    ExpiredSuppressions,
    { provide: SOURCE_RETENTION_POLICIES, useClass: SourceRetentionFromPolicies },
    {
      provide: RETENTION_SWEEPS,
      useFactory: (notifications: ProviderNotificationRetention, suppressions: ExpiredSuppressions) =>
        [notifications, suppressions] satisfies RetentionSweep[],
      inject: [ProviderNotificationRetention, ExpiredSuppressions],
    },
  ],
  exports: [RetentionLoop],
})
export class RetentionModule {}
