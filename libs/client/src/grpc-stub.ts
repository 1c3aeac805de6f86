import {
  ChannelCredentials,
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceError,
} from '@grpc/grpc-js';
import type { Client, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '@mailgateway/contracts';

export interface GatewayClientOptions {
  /** host:port of the gateway. */
  readonly address: string;
  /** Plain TCP by default; `credentials.createSsl(...)` for a TLS listener. */
  readonly credentials?: ChannelCredentials;
  /** Deadline of each call (for the mail client: of each logical call, its retries included). */
  readonly deadlineMs?: number;
  /** Sent as `authorization: Bearer <key>` with every call. */
  readonly apiKey?: string;
  /** Sent with every call. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Retries of the mail client on UNAVAILABLE and RESOURCE_EXHAUSTED. */
  readonly retry?: RetryOptions;
}

export interface RetryOptions {
  /** Attempts per logical call, the first included. 1 turns retries off. */
  readonly maxAttempts?: number;
  /** First backoff when the server gives no advice; doubles per retry (full jitter). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => void;

const services = new Map<string, ServiceClientConstructor>();

function serviceConstructor(protoPath: string, service: string): ServiceClientConstructor {
  let constructor = services.get(service);
  if (!constructor) {
    const definition = loadPackageDefinition(loadSync(protoPath, PROTO_LOADER_OPTIONS));
    const v1 = (definition.mailgateway as Record<string, Record<string, unknown>>).v1;
    constructor = v1[service] as ServiceClientConstructor;
    services.set(service, constructor);
  }
  return constructor;
}

/** A grpc-js stub of one service with promise calls that carry the key and a deadline. */
export class GrpcStub<Stub extends Client> {
  readonly stub: Stub;
  readonly deadlineMs: number;
  private readonly metadata: Readonly<Record<string, string>>;

  constructor(protoPath: string, service: string, options: GatewayClientOptions) {
    const Service = serviceConstructor(protoPath, service);
    this.stub = new Service(options.address, options.credentials ?? credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    }) as unknown as Stub;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.metadata = {
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      ...options.metadata,
    };
  }

  call<Request, Response>(
    method: Unary<Request, Response>,
    request: Request,
    deadline = new Date(Date.now() + this.deadlineMs),
  ): Promise<Response> {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    return new Promise((resolve, reject) => {
      method.call(this.stub, request, metadata, { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  close(): void {
    this.stub.close();
  }
}
