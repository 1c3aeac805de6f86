import { Controller, UseGuards } from '@nestjs/common';
import { AuthGuard, RequireRole, Role, SourceAdminService } from '@mailgateway/auth';
import {
  CreateApiKeyRequest,
  CreateApiKeyResponse,
  CreateSourceRequest,
  CreateSourceResponse,
  ListApiKeysRequest,
  ListApiKeysResponse,
  ListSourcesResponse,
  MailGatewayAdminController,
  MailGatewayAdminControllerMethods,
  RevokeApiKeyRequest,
  RevokeApiKeyResponse,
  RotateApiKeyRequest,
  RotateApiKeyResponse,
  UpdateSourceRequest,
  UpdateSourceResponse,
} from '@mailgateway/contracts';
import { secondsToMs, toApiKey, toSource, toSourceDefinition } from './admin.mapper';

/** Sources and API keys; every call needs the admin role. Not rate limited: it sends no mail. */
@Controller()
@MailGatewayAdminControllerMethods()
@UseGuards(AuthGuard)
@RequireRole(Role.Admin)
export class AdminController implements MailGatewayAdminController {
  constructor(private readonly admin: SourceAdminService) {}

  async createSource({ source }: CreateSourceRequest): Promise<CreateSourceResponse> {
    return { source: toSource(await this.admin.createSource(toSourceDefinition(source))) };
  }

  async updateSource({ source }: UpdateSourceRequest): Promise<UpdateSourceResponse> {
    return { source: toSource(await this.admin.updateSource(toSourceDefinition(source))) };
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
}
