import { AUTH_SCHEMA, authConfig } from '@mailgateway/auth';
import { ConfigSlice, LoadedConfig } from '@mailgateway/config';
import { combineSchemas, databaseConfig } from '@mailgateway/database';
import { ENCRYPTION_SCHEMA, encryptionConfig } from '@mailgateway/encryption';
import { DELIVERY_CONFIG_SLICES, DELIVERY_SCHEMA } from '@mailgateway/delivery';
import { ERASURE_SCHEMA } from '@mailgateway/erasure';
import { FEEDBACK_CONFIG_SLICES, FEEDBACK_SCHEMA } from '@mailgateway/feedback';
import { observabilityConfig } from '@mailgateway/observability';
import { OUTBOX_SCHEMA, outboxConfig, retentionConfig } from '@mailgateway/outbox';
import { SUPPRESSION_SCHEMA } from '@mailgateway/suppression';
import { throttlingConfig } from '@mailgateway/throttling';
import { validationConfig } from '@mailgateway/validation';
import { eventsConfig } from './events/events.settings';
import { gatewayConfig } from './gateway.settings';

/** Every lib's settings the gateway runs with, in the order the README documents them. */
export const GATEWAY_CONFIG_SLICES: readonly ConfigSlice[] = [
  gatewayConfig,
  databaseConfig,
  encryptionConfig,
  validationConfig,
  outboxConfig,
  retentionConfig,
  eventsConfig,
  ...DELIVERY_CONFIG_SLICES,
  ...FEEDBACK_CONFIG_SLICES,
  authConfig,
  throttlingConfig,
  observabilityConfig,
];

/** Every table the gateway keeps, in its one database. */
export const GATEWAY_SCHEMA = combineSchemas(
  AUTH_SCHEMA,
  ENCRYPTION_SCHEMA,
  OUTBOX_SCHEMA,
  DELIVERY_SCHEMA,
  FEEDBACK_SCHEMA,
  SUPPRESSION_SCHEMA,
  ERASURE_SCHEMA,
);

/** Reads and validates every setting at once; throws a ConfigurationException naming each bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return LoadedConfig.load(GATEWAY_CONFIG_SLICES, env);
}
