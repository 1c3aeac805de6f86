import { Module } from '@nestjs/common';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { CredentialBootstrap } from './credential-bootstrap.service';
import { CredentialRepository } from './credential.repository';
import { SourceAdminService } from './source-admin.service';
import { SourceRoutes } from './source-routes.service';

/** Who is calling: sources, their keys and roles. Its tables (AUTH_SCHEMA) live in DatabaseModule. */
@Module({
  providers: [
    CredentialRepository,
    AuthService,
    SourceAdminService,
    SourceRoutes,
    CredentialBootstrap,
    AuthGuard,
  ],
  exports: [AuthService, SourceAdminService, SourceRoutes, AuthGuard],
})
export class AuthModule {}
