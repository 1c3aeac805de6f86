import { loadPackageDefinition, Metadata, ServiceError } from '@grpc/grpc-js';
import type { Client, ClientReadableStream, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { channelSettings } from './channel-settings';
import { GatewayClientOptions } from './gateway-client-options';
import { PROTO_LOADER_OPTIONS } from './proto-files';

const PACKAGE = 'mailgateway.v1';
const DEFAULT_DEADLINE_MS = 10_000;

export type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => void;

export type ServerStreaming<Request, Response> = (
  request: Request,
  metadata: Metadata,
) => ClientReadableStream<Response>;

export interface StubOptions {
  /** Whether grpc-js retries this service's calls answered UNAVAILABLE (its methods are safe to repeat). */
  readonly retryUnavailable: boolean;
}

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

  constructor(
    protoPath: string,
    service: string,
    options: GatewayClientOptions,
    { retryUnavailable }: StubOptions,
  ) {
    const Service = serviceConstructor(protoPath, service);
    const channel = channelSettings(options, retryUnavailable ? `${PACKAGE}.${service}` : undefined);
    this.stub = new Service(options.address, channel.credentials, channel.options) as unknown as Stub;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
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
    return new Promise((resolve, reject) => {
      method.call(this.stub, request, this.callMetadata(), { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  /** A server-streaming call with the key and no deadline: it lasts until it ends or is cancelled. */
  stream<Request, Response>(
    method: ServerStreaming<Request, Response>,
    request: Request,
  ): ClientReadableStream<Response> {
    return method.call(this.stub, request, this.callMetadata());
  }

  close(): void {
    this.stub.close();
  }

  private callMetadata(): Metadata {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    return metadata;
  }
}
