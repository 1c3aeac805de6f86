import type { Metadata } from '@grpc/grpc-js';
import type { Writable } from 'node:stream';
import { Controller, UseGuards } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { AuthGuard, principalOf, RequireRole, Role } from '@mailgateway/auth';
import {
  ListEventsRequest,
  ListEventsResponse,
  MAIL_GATEWAY_SERVICE_NAME,
  MailGatewayController,
  StreamEventsRequest,
  StreamEventsResponse,
} from '@mailgateway/contracts';
import { GatewayMetrics } from '@mailgateway/observability';
import { FeedCursors, OutboxFeed } from '@mailgateway/outbox';
import { NoRateLimit, RpcThrottlerGuard } from '@mailgateway/throttling';
import type { Observable } from 'rxjs';
import { EventStreams } from './event-streams';
import { toFeedEvent, toFeedFilter, toPageSize } from './events.mapper';

/** The event feed: a source's events by page and as a live stream, each resumable by cursor. */
@Controller()
@UseGuards(AuthGuard, RpcThrottlerGuard)
export class EventsController implements Pick<MailGatewayController, 'listEvents' | 'streamEvents'> {
  constructor(
    private readonly feed: OutboxFeed,
    private readonly cursors: FeedCursors,
    private readonly streams: EventStreams,
    private readonly metrics: GatewayMetrics,
  ) {}

  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailRead)
  @NoRateLimit()
  async listEvents(request: ListEventsRequest, metadata?: Metadata): Promise<ListEventsResponse> {
    const { source } = principalOf(metadata);
    const filter = toFeedFilter(request.filter);
    const limit = toPageSize(request.pageSize);
    const after = await this.cursors.decode(request.cursor, source, filter);
    const page = await this.feed.read(source, filter, after, limit);
    this.metrics.feedEventsSent.inc({ method: 'ListEvents' }, page.events.length);
    return {
      events: page.events.map(toFeedEvent),
      nextCursor: await this.cursors.encode(source, filter, page.next),
    };
  }

  /** Server streaming: Nest writes what the observable emits; the third argument is the call. */
  @GrpcMethod(MAIL_GATEWAY_SERVICE_NAME)
  @RequireRole(Role.MailRead)
  @NoRateLimit()
  streamEvents(
    request: StreamEventsRequest,
    metadata?: Metadata,
    call?: Writable,
  ): Observable<StreamEventsResponse> {
    const { source } = principalOf(metadata);
    const filter = toFeedFilter(request.filter);
    return this.streams.follow(source, filter, request.cursor, call!);
  }
}
