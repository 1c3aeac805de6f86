import { defineConfig, integer, setting } from '@mailgateway/config';

export interface FlowmailerEventsConfig {
  /** How often the event feed is read; 0: never. */
  readonly pollMs: number;
  /** Events asked for per request (the count of the Range header). */
  readonly pageSize: number;
}

export const flowmailerEventsConfig = defineConfig({
  name: 'flowmailer feedback',
  settings: {
    FLOWMAILER_EVENTS_POLL_MS: setting({
      description:
        'Feedback "flowmailer": how often (ms) one replica reads Flowmailer\'s message events (GET /{account_id}/message_events) while the flowmailer driver is configured; 0 turns the poller off.',
      schema: integer(0, 3_600_000).default(30_000),
    }),
    FLOWMAILER_EVENTS_PAGE_SIZE: setting({
      description: 'Feedback "flowmailer": events read per request (each page is stored in one transaction).',
      schema: integer(1, 1_000).default(100),
    }),
  },
  build: (values): FlowmailerEventsConfig => ({
    pollMs: values.FLOWMAILER_EVENTS_POLL_MS,
    pageSize: values.FLOWMAILER_EVENTS_PAGE_SIZE,
  }),
});
