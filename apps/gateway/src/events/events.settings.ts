import { defineConfig, integer, setting } from '@mailgateway/config';

export interface EventsConfig {
  readonly maxStreams: number;
  readonly maxStreamsPerSource: number;
  readonly heartbeatMs: number;
  readonly pollMs: number;
}

/** Limits and timing of the event feed's streams. */
export const eventsConfig = defineConfig({
  name: 'events',
  settings: {
    FEED_MAX_STREAMS: setting({
      description:
        'Most StreamEvents streams one process serves at once; more are refused with RESOURCE_EXHAUSTED.',
      schema: integer(1, 100_000).default(1_000),
    }),
    FEED_MAX_STREAMS_PER_SOURCE: setting({
      description:
        'Most StreamEvents streams one source may hold open on one process; more are refused with RESOURCE_EXHAUSTED.',
      schema: integer(1, 100_000).default(20),
    }),
    FEED_HEARTBEAT_MS: setting({
      description:
        'An idle StreamEvents stream sends a heartbeat carrying the current cursor this often (also what keeps proxies from closing it).',
      schema: integer(100, 300_000).default(15_000),
    }),
    FEED_POLL_MS: setting({
      description:
        'A stream reads the table again this often even without a wake-up (commits on this process and NOTIFY from other replicas wake it at once); bounds the delay if a wake-up is lost.',
      schema: integer(50, 600_000).default(2_000),
    }),
  },
  build: (values): EventsConfig => ({
    maxStreams: values.FEED_MAX_STREAMS,
    maxStreamsPerSource: values.FEED_MAX_STREAMS_PER_SOURCE,
    heartbeatMs: values.FEED_HEARTBEAT_MS,
    pollMs: values.FEED_POLL_MS,
  }),
});
