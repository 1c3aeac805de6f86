import type { DatabaseSchema } from '@mailgateway/database';
import { ProviderNotificationEntity } from './intake/provider-notification.entity';
import { CreateProviderNotifications1796400000000 } from './intake/migrations/1796400000000-create-provider-notifications';

/** Provider feedback's tables. A new migration is a new file in a migrations/ folder and a line here. */
export const FEEDBACK_SCHEMA: DatabaseSchema = {
  entities: [ProviderNotificationEntity],
  migrations: [CreateProviderNotifications1796400000000],
};
