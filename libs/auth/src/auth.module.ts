import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OutboxModule } from '@mailgateway/outbox';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { CredentialBootstrap } from './credential-bootstrap.service';
import { CredentialRepository } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { SourceAdminService } from './source-admin.service';

@Module({
  imports: [OutboxModule, TypeOrmModule.forFeature([ApiSourceEntity, ApiKeyEntity])],
  providers: [CredentialRepository, AuthService, SourceAdminService, CredentialBootstrap, AuthGuard],
  exports: [AuthService, SourceAdminService, AuthGuard],
})
export class AuthModule {}
