import type { Client } from '@grpc/grpc-js';
import {
  GetMessageRequest,
  GetMessageResponse,
  MAIL_GATEWAY_PROTO_PATH,
  SendMailBatchRequest,
  SendMailBatchResponse,
  SendMailRequest,
  SendMailResponse,
} from '@mailgateway/contracts';
import { GatewayClientOptions, GrpcStub, Unary } from './grpc-stub';

export type MailGatewayClientOptions = GatewayClientOptions;

interface MailGatewayStub extends Client {
  sendMail: Unary<SendMailRequest, SendMailResponse>;
  sendMailBatch: Unary<SendMailBatchRequest, SendMailBatchResponse>;
  getMessage: Unary<GetMessageRequest, GetMessageResponse>;
}

/** A typed, promise-based client of the MailGateway service over @grpc/grpc-js. */
export class MailGatewayClient {
  private readonly grpc: GrpcStub<MailGatewayStub>;

  constructor(options: MailGatewayClientOptions) {
    this.grpc = new GrpcStub(MAIL_GATEWAY_PROTO_PATH, 'MailGateway', options);
  }

  sendMail(request: SendMailRequest): Promise<SendMailResponse> {
    return this.grpc.call(this.grpc.stub.sendMail, request);
  }

  sendMailBatch(request: SendMailBatchRequest): Promise<SendMailBatchResponse> {
    return this.grpc.call(this.grpc.stub.sendMailBatch, request);
  }

  getMessage(request: GetMessageRequest): Promise<GetMessageResponse> {
    return this.grpc.call(this.grpc.stub.getMessage, request);
  }

  close(): void {
    this.grpc.close();
  }
}
