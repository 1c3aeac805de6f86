import type { DatabaseSchema } from '@mailgateway/database';
import { ProviderNotificationEntity } from './intake/provider-notification.entity';
import { CreateProviderNotifications1796400000000 } from './intake/migrations/1796400000000-create-provider-notifications';
import { IndexProcessedNotifications1796500200003 } from './intake/migrations/1796500200003-index-processed-notifications';
import { IndexNotificationMessages1796500200005 } from './intake/migrations/1796500200005-index-notification-messages';
import { FeedbackPositionEntity } from './providers/flowmailer/feedback-position.entity';
import { CreateFeedbackPositions1796500000000 } from './providers/flowmailer/migrations/1796500000000-create-feedback-positions';

/** Provider feedback's tables. A new migration is a new file in a migrations/ folder and a line here. */
export const FEEDBACK_SCHEMA: DatabaseSchema = {
  entities: [ProviderNotificationEntity, FeedbackPositionEntity],
  migrations: [
    CreateProviderNotifications1796400000000,
    CreateFeedbackPositions1796500000000,
    IndexProcessedNotifications1796500200003,
    IndexNotificationMessages1796500200005,
  ],
};
