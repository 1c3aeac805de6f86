import type { Client } from '@grpc/grpc-js';
import {
  AddSuppressionRequest,
  AddSuppressionResponse,
  CheckSuppressionsRequest,
  CheckSuppressionsResponse,
  CreateApiKeyRequest,
  CreateApiKeyResponse,
  CreateSourceRequest,
  CreateSourceResponse,
  EraseAddressRequest,
  EraseAddressResponse,
  ListApiKeysRequest,
  ListApiKeysResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  ListSuppressionsRequest,
  ListSuppressionsResponse,
  RemoveSuppressionRequest,
  RemoveSuppressionResponse,
  RevokeApiKeyRequest,
  RewrapContentKeysRequest,
  RewrapContentKeysResponse,
  RevokeApiKeyResponse,
  RotateApiKeyRequest,
  RotateApiKeyResponse,
  UpdateSourceRequest,
  UpdateSourceResponse,
} from './generated/mailgateway/v1/admin';
import { GatewayClientOptions } from './gateway-client-options';
import { GrpcStub, Unary } from './grpc-stub';
import { MAIL_GATEWAY_ADMIN_PROTO_PATH } from './proto-files';

interface MailGatewayAdminStub extends Client {
  createSource: Unary<CreateSourceRequest, CreateSourceResponse>;
  updateSource: Unary<UpdateSourceRequest, UpdateSourceResponse>;
  listSources: Unary<ListSourcesRequest, ListSourcesResponse>;
  createApiKey: Unary<CreateApiKeyRequest, CreateApiKeyResponse>;
  listApiKeys: Unary<ListApiKeysRequest, ListApiKeysResponse>;
  rotateApiKey: Unary<RotateApiKeyRequest, RotateApiKeyResponse>;
  revokeApiKey: Unary<RevokeApiKeyRequest, RevokeApiKeyResponse>;
  listSuppressions: Unary<ListSuppressionsRequest, ListSuppressionsResponse>;
  checkSuppressions: Unary<CheckSuppressionsRequest, CheckSuppressionsResponse>;
  addSuppression: Unary<AddSuppressionRequest, AddSuppressionResponse>;
  removeSuppression: Unary<RemoveSuppressionRequest, RemoveSuppressionResponse>;
  eraseAddress: Unary<EraseAddressRequest, EraseAddressResponse>;
  rewrapContentKeys: Unary<RewrapContentKeysRequest, RewrapContentKeysResponse>;
}

/**
 * A typed, promise-based client of the MailGatewayAdmin service (needs an admin key). Its calls are
 * made once: creating a key or a source twice is not harmless, so the caller decides.
 */
export class MailGatewayAdminClient {
  private readonly grpc: GrpcStub<MailGatewayAdminStub>;

  constructor(options: GatewayClientOptions) {
    this.grpc = new GrpcStub(MAIL_GATEWAY_ADMIN_PROTO_PATH, 'MailGatewayAdmin', options, {
      retryUnavailable: false,
    });
  }

  createSource(request: CreateSourceRequest): Promise<CreateSourceResponse> {
    return this.grpc.call(this.grpc.stub.createSource, request);
  }

  updateSource(request: UpdateSourceRequest): Promise<UpdateSourceResponse> {
    return this.grpc.call(this.grpc.stub.updateSource, request);
  }

  listSources(): Promise<ListSourcesResponse> {
    return this.grpc.call(this.grpc.stub.listSources, {});
  }

  createApiKey(request: CreateApiKeyRequest): Promise<CreateApiKeyResponse> {
    return this.grpc.call(this.grpc.stub.createApiKey, request);
  }

  listApiKeys(request: ListApiKeysRequest): Promise<ListApiKeysResponse> {
    return this.grpc.call(this.grpc.stub.listApiKeys, request);
  }

  rotateApiKey(request: RotateApiKeyRequest): Promise<RotateApiKeyResponse> {
    return this.grpc.call(this.grpc.stub.rotateApiKey, request);
  }

  revokeApiKey(request: RevokeApiKeyRequest): Promise<RevokeApiKeyResponse> {
    return this.grpc.call(this.grpc.stub.revokeApiKey, request);
  }

  listSuppressions(request: ListSuppressionsRequest): Promise<ListSuppressionsResponse> {
    return this.grpc.call(this.grpc.stub.listSuppressions, request);
  }

  checkSuppressions(request: CheckSuppressionsRequest): Promise<CheckSuppressionsResponse> {
    return this.grpc.call(this.grpc.stub.checkSuppressions, request);
  }

  addSuppression(request: AddSuppressionRequest): Promise<AddSuppressionResponse> {
    return this.grpc.call(this.grpc.stub.addSuppression, request);
  }

  removeSuppression(request: RemoveSuppressionRequest): Promise<RemoveSuppressionResponse> {
    return this.grpc.call(this.grpc.stub.removeSuppression, request);
  }

  /** Erases a person (see the contract); answers once the whole erasure is done. */
  eraseAddress(request: EraseAddressRequest): Promise<EraseAddressResponse> {
    return this.grpc.call(this.grpc.stub.eraseAddress, request);
  }

  /** Moves up to `limit` messages to the newest content key; call again until remaining is 0. */
  rewrapContentKeys(request: RewrapContentKeysRequest): Promise<RewrapContentKeysResponse> {
    return this.grpc.call(this.grpc.stub.rewrapContentKeys, request);
  }

  close(): void {
    this.grpc.close();
  }
}
