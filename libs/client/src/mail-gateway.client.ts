import {
  ChannelCredentials,
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceError,
} from '@grpc/grpc-js';
import type { Client, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  GetMessageRequest,
  GetMessageResponse,
  MAIL_GATEWAY_PROTO_PATH,
  PROTO_LOADER_OPTIONS,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';

export interface MailGatewayClientOptions {
  /** host:port of the gateway. */
  readonly address: string;
  readonly credentials?: ChannelCredentials;
  /** Deadline of each call. */
  readonly deadlineMs?: number;
  /** Sent with every call (e.g. authorization). */
  readonly metadata?: Readonly<Record<string, string>>;
}

type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => void;

interface MailGatewayStub extends Client {
  sendMail: Unary<SendMailRequest, SendMailResponse>;
  sendMailBatch: Unary<SendMailBatchRequest, SendMailBatchResponse>;
  getMessage: Unary<GetMessageRequest, GetMessageResponse>;
}

let serviceConstructor: ServiceClientConstructor | undefined;

function mailGatewayService(): ServiceClientConstructor {
  if (!serviceConstructor) {
    const definition = loadPackageDefinition(loadSync(MAIL_GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS));
    const v1 = (definition.mailgateway as Record<string, Record<string, unknown>>).v1;
    serviceConstructor = v1.MailGateway as ServiceClientConstructor;
  }
  return serviceConstructor;
}

/** A typed, promise-based client of the MailGateway service over @grpc/grpc-js. */
export class MailGatewayClient {
  private readonly stub: MailGatewayStub;
  private readonly deadlineMs: number;
  private readonly metadata: Readonly<Record<string, string>>;

  constructor(options: MailGatewayClientOptions) {
    const Service = mailGatewayService();
    this.stub = new Service(options.address, options.credentials ?? credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    }) as unknown as MailGatewayStub;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.metadata = options.metadata ?? {};
  }

  sendMail(request: SendMailRequest): Promise<SendMailResponse> {
    return this.call(this.stub.sendMail, request);
  }

  sendMailBatch(request: SendMailBatchRequest): Promise<SendMailBatchResponse> {
    return this.call(this.stub.sendMailBatch, request);
  }

  getMessage(request: GetMessageRequest): Promise<GetMessageResponse> {
    return this.call(this.stub.getMessage, request);
  }

  close(): void {
    this.stub.close();
  }

  private call<Request, Response>(method: Unary<Request, Response>, request: Request): Promise<Response> {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    const deadline = new Date(Date.now() + this.deadlineMs);
    return new Promise((resolve, reject) => {
      method.call(this.stub, request, metadata, { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }
}
