import { Controller, UseGuards } from '@nestjs/common';
import { AuthGuard, RequireRole, Role, SourceAdminService, SourceDefinition } from '@mailgateway/auth';
import {
  AddSuppressionResponse,
  CheckSuppressionsResponse,
  CreateApiKeyRequest,
  CreateApiKeyResponse,
  CreateSourceRequest,
  CreateSourceResponse,
  ListApiKeysRequest,
  Source,
  ListApiKeysResponse,
  ListSourcesResponse,
  ListSuppressionsResponse,
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
import { ValidationException } from '@mailgateway/validation';
import { secondsToMs, toApiKey, toSource, toSourceDefinition } from './admin.mapper';

/** Sources and API keys; every call needs the admin role. Not rate limited: it sends no mail. */
@Controller()
@MailGatewayAdminControllerMethods()
@UseGuards(AuthGuard)
@RequireRole(Role.Admin)
export class AdminController implements MailGatewayAdminController {
  constructor(
    private readonly admin: SourceAdminService,
    private readonly drivers: MailDriverSet,
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

  listSuppressions(): Promise<ListSuppressionsResponse> {
    throw new Error('ListSuppressions: not written yet');
  }

  checkSuppressions(): Promise<CheckSuppressionsResponse> {
    throw new Error('CheckSuppressions: not written yet');
  }

  addSuppression(): Promise<AddSuppressionResponse> {
    throw new Error('AddSuppression: not written yet');
  }

  removeSuppression(): Promise<RemoveSuppressionResponse> {
    throw new Error('RemoveSuppression: not written yet');
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
