import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

const ROOT = join(__dirname, '..', '..');
export const PROTO_ROOT = join(ROOT, 'proto');
export const PROTO_FILE = join(PROTO_ROOT, 'mailgateway/v1/mail_gateway.proto');
export const GATEWAY_MAIN = join(ROOT, 'dist/apps/gateway/apps/gateway/src/main.js');
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

// The feed's messages as the loader above decodes them (camelCase, enums as names, oneof names).
export interface EventFilter {
  readonly types?: string[];
  readonly messageId?: string;
}

export interface ListEventsRequest {
  readonly cursor?: string;
  readonly pageSize?: number;
  readonly filter?: EventFilter;
}

export interface Timestamp {
  readonly seconds: number;
  readonly nanos: number;
}

export interface FeedEvent {
  readonly eventId: string;
  readonly messageId: string;
  readonly type: string;
  readonly recordedAt: Timestamp;
}

export interface ListEventsResponse {
  readonly events: FeedEvent[];
  readonly nextCursor: string;
}

export interface StreamEventsRequest {
  readonly cursor?: string;
  readonly filter?: EventFilter;
}

export interface StreamEventsResponse {
  readonly item: 'event' | 'heartbeat';
  readonly event?: FeedEvent;
  readonly cursor: string;
}
