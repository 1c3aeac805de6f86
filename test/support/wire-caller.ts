import {
  ChannelOptions,
  ClientReadableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceClientConstructor,
  ServiceError,
} from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  ListEventsRequest,
  ListEventsResponse,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
  StreamEventsRequest,
  StreamEventsResponse,
} from '@mailgateway/contracts';

interface FeedStub extends Client {
  listEvents(
    request: ListEventsRequest,
    metadata: Metadata,
    callback: (error: ServiceError | null, response: ListEventsResponse) => void,
  ): void;
  streamEvents(request: StreamEventsRequest, metadata: Metadata): ClientReadableStream<StreamEventsResponse>;
}

/** Unary calls end by this deadline: a test that hangs fails with DEADLINE_EXCEEDED instead. */
const UNARY_DEADLINE_MS = 30_000;

/** MailGateway RPCs through a bare grpc-js client, so tests see the wire as any caller does. */
export class WireCaller {
  private readonly stub: FeedStub;

  constructor(
    address: string,
    private readonly apiKey: string,
    channelOptions: ChannelOptions = {},
  ) {
    const definition = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
    const service = (definition.mailgateway as Record<string, Record<string, ServiceClientConstructor>>).v1
      .MailGateway;
    this.stub = new service(address, credentials.createInsecure(), channelOptions) as unknown as FeedStub;
  }

  /** Any unary RPC by its method name (lowerCamelCase), e.g. "cancelMessage". */
  unary<Response>(method: string, request: object): Promise<Response> {
    const call = (this.stub as unknown as Record<string, Function>)[method].bind(this.stub);
    return new Promise((resolve, reject) =>
      call(
        request,
        this.metadata(),
        { deadline: Date.now() + UNARY_DEADLINE_MS },
        (error: ServiceError | null, response: Response) => (error ? reject(error) : resolve(response)),
      ),
    );
  }

  list(request: Partial<ListEventsRequest> = {}): Promise<ListEventsResponse> {
    return new Promise((resolve, reject) =>
      this.stub.listEvents(
        { cursor: '', pageSize: 0, filter: undefined, ...request },
        this.metadata(),
        (error, response) => (error ? reject(error) : resolve(response)),
      ),
    );
  }

  /** Every page from `cursor` until a short page: the events and the cursor after them. */
  async listAll(request: Partial<ListEventsRequest> = {}): Promise<ListEventsResponse> {
    const events: ListEventsResponse['events'] = [];
    let cursor = request.cursor ?? '';
    const pageSize = request.pageSize || 100;
    for (;;) {
      const page = await this.list({ ...request, cursor, pageSize });
      events.push(...page.events);
      cursor = page.nextCursor;
      if (page.events.length < pageSize) return { events, nextCursor: cursor };
    }
  }

  stream(request: Partial<StreamEventsRequest> = {}): ClientReadableStream<StreamEventsResponse> {
    return this.stub.streamEvents({ cursor: '', filter: undefined, ...request }, this.metadata());
  }

  close(): void {
    this.stub.close();
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${this.apiKey}`);
    return metadata;
  }
}

/** Collects a stream's items and its end, for assertions. */
export class StreamRecorder {
  readonly items: StreamEventsResponse[] = [];
  error: ServiceError | null = null;
  private waiters: (() => void)[] = [];

  constructor(readonly call: ClientReadableStream<StreamEventsResponse>) {
    call.on('data', (item: StreamEventsResponse) => {
      this.items.push(item);
      this.notify();
    });
    call.on('error', (error: ServiceError) => {
      this.error = error;
      this.notify();
    });
  }

  get events() {
    return this.items.flatMap((item) => (item.event ? [item.event] : []));
  }

  get lastCursor(): string {
    return this.items[this.items.length - 1]?.cursor ?? '';
  }

  /** Resolves once `predicate` holds for what arrived, or rejects after `timeoutMs` saying what did. */
  until(what: string, predicate: (recorder: StreamRecorder) => boolean, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(this)) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        return false;
      };
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; got ${this.items.length} items, error ${this.error?.message}`,
            ),
          ),
        timeoutMs,
      );
      if (check()) return;
      const waiter = () => {
        if (!check()) this.waiters.push(waiter);
      };
      this.waiters.push(waiter);
    });
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
