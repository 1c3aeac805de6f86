import { Timestamp } from '@mailgateway/client';

/** A protobuf timestamp as ISO 8601 (millisecond precision), or "-" when absent. */
export const formatTime = (time: Timestamp | undefined): string =>
  time ? new Date(time.seconds * 1000 + Math.floor(time.nanos / 1e6)).toISOString() : '-';

/** An enum value without its common prefix: MESSAGE_STATUS_DELIVERED → DELIVERED. */
export const shortName = (value: string, prefix: string): string => value.replace(prefix, '');
