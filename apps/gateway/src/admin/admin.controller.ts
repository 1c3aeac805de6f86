import { Metadata } from '@grpc/grpc-js';
import { Controller, UseGuards } from '@nestjs/common';
import {
  AuthGuard,
  principalOf,
  RequireRole,
  Role,
  SourceAdminService,
  SourceDefinition,
} from '@mailgateway/auth';
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
  RewrapContentKeysRequest,
  RewrapContentKeysResponse,
  ListApiKeysRequest,
  Source,
  ListApiKeysResponse,
  ListSourcesResponse,
  ListSuppressionsRequest,
  ListSuppressionsResponse,
  RemoveSuppressionRequest,
  RemoveSuppressionResponse,
  MailGatewayAdminController,
  MailGatewayAdminControllerMethods,
  RevokeApiKeyRequest,
  RevokeApiKeyResponse,
  RotateApiKeyRequest,
  RotateApiKeyResponse,
  UpdateSourceRequest,
  UpdateSourceResponse,
} from '@mailgateway/contracts';
import { MailDriverSet } from '@mailgateway/delivery';
import { AddressErasure } from '@mailgateway/erasure';
import { OutboxContentKeys } from '@mailgateway/outbox';
import { SuppressionList } from '@mailgateway/suppression';
import { ValidationException } from '@mailgateway/validation';
import { secondsToMs, toApiKey, toSource, toSourceDefinition } from './admin.mapper';
import { toErasureRequest, toEraseAddressResponse } from './erasure.mapper';
import {
  toCheckedAddresses,
  toManualSuppression,
  toProtoSuppression,
  toSuppressionQuery,
  toSuppressionRemoval,
} from './suppressions.mapper';

const DEFAULT_REWRAP_LIMIT = 1000;
const MAX_REWRAP_LIMIT = 10_000;

/** Sources, API keys and the suppression list; every call needs the admin role. Not rate limited: it sends no mail. */
@Controller()
@MailGatewayAdminControllerMethods()
@UseGuards(AuthGuard)
@RequireRole(Role.Admin)
export class AdminController implements MailGatewayAdminController {
  constructor(
    private readonly admin: SourceAdminService,
    private readonly drivers: MailDriverSet,
    private readonly suppressions: SuppressionList,
    private readonly erasure: AddressErasure,
    private readonly contentKeys: OutboxContentKeys,
  ) {}

  async createSource({ source }: CreateSourceRequest): Promise<CreateSourceResponse> {
    return { source: toSource(await this.admin.createSource(this.definitionOf(source))) };
  }

  async updateSource({ source }: UpdateSourceRequest): Promise<UpdateSourceResponse> {
    return { source: toSource(await this.admin.updateSource(this.definitionOf(source))) };
  }

  async listSources(): Promise<ListSourcesResponse> {
    return { sources: (await this.admin.listSources()).map(toSource) };
  }

  async createApiKey({ source, expiresInSeconds }: CreateApiKeyRequest): Promise<CreateApiKeyResponse> {
    const { key, record } = await this.admin.createKey(source, secondsToMs(expiresInSeconds));
    return { key, apiKey: toApiKey(record) };
  }

  async listApiKeys({ source }: ListApiKeysRequest): Promise<ListApiKeysResponse> {
    return { apiKeys: (await this.admin.listKeys(source || undefined)).map(toApiKey) };
  }

  async rotateApiKey(request: RotateApiKeyRequest): Promise<RotateApiKeyResponse> {
    const { key, record, previous } = await this.admin.rotateKey(
      request.prefix,
      secondsToMs(request.overlapSeconds),
      secondsToMs(request.expiresInSeconds),
    );
    return { key, apiKey: toApiKey(record), previous: toApiKey(previous) };
  }

  async revokeApiKey({ prefix }: RevokeApiKeyRequest): Promise<RevokeApiKeyResponse> {
    return { apiKey: toApiKey(await this.admin.revokeKey(prefix)) };
  }

  async listSuppressions(request: ListSuppressionsRequest): Promise<ListSuppressionsResponse> {
    const page = await this.suppressions.list(toSuppressionQuery(request));
    return { suppressions: page.suppressions.map(toProtoSuppression), nextPageToken: page.nextPageToken };
  }

  async checkSuppressions(request: CheckSuppressionsRequest): Promise<CheckSuppressionsResponse> {
    const { source, addresses } = toCheckedAddresses(request);
    const found = await this.suppressions.find(source, addresses);
    return {
      suppressions: addresses.flatMap((address) => {
        const suppression = found.get(address);
        return suppression ? [toProtoSuppression(suppression)] : [];
      }),
    };
  }

  async addSuppression(request: AddSuppressionRequest): Promise<AddSuppressionResponse> {
    return {
      suppression: toProtoSuppression(await this.suppressions.addManual(toManualSuppression(request))),
    };
  }

  async removeSuppression(request: RemoveSuppressionRequest): Promise<RemoveSuppressionResponse> {
    return { suppression: toProtoSuppression(await this.suppressions.remove(toSuppressionRemoval(request))) };
  }

  /** Answers once every batch is done: the counts are the whole erasure's. */
  async eraseAddress(request: EraseAddressRequest, metadata?: Metadata): Promise<EraseAddressResponse> {
    const erasure = toErasureRequest(request, principalOf(metadata).source);
    return toEraseAddressResponse(await this.erasure.erase(erasure));
  }

  async rewrapContentKeys({ limit }: RewrapContentKeysRequest): Promise<RewrapContentKeysResponse> {
    if (limit > MAX_REWRAP_LIMIT)
      throw new ValidationException('limit', `is ${limit}; at most ${MAX_REWRAP_LIMIT}`);
    return this.contentKeys.rewrap(limit === 0 ? DEFAULT_REWRAP_LIMIT : limit);
  }

  /** A source's driver chain may only name drivers this gateway runs. */
  private definitionOf(source: Source | undefined): SourceDefinition {
    const definition = toSourceDefinition(source);
    const [unknown] = this.drivers.unknown(definition.drivers);
    if (unknown) {
      throw new ValidationException(
        `policy.drivers[${unknown.index}]`,
        `driver "${unknown.name}" does not run in this gateway (running: ${this.drivers.names.join(', ')}; EXTRA_MAIL_DRIVERS starts more)`,
      );
    }
    return definition;
  }
}
