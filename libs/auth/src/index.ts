export { AuthModule } from './auth.module';
export { authConfig } from './auth.settings';
export type { AuthConfig } from './auth.settings';
export { AUTH_SCHEMA } from './auth.schema';
export { AuthGuard } from './auth.guard';
export { AuthService, splitList, toPrincipal } from './auth.service';
export { AuthenticationException, AuthenticationFailure } from './authentication.exception';
export { PermissionDeniedException } from './permission-denied.exception';
export { CredentialException, CredentialProblem } from './credential.exception';
export * from './principal';
export * from './require-role.decorator';
export * from './credential-checked-at-commit.decorator';
export * from './role';
export {
  MAX_RETENTION_SECONDS,
  MAX_SOURCE_DRIVERS,
  MIN_HISTORY_RETENTION_SECONDS,
  SourceAdminService,
} from './source-admin.service';
export { SOURCE_ROUTES_REFRESH_MS, SourceRoutes } from './source-routes.service';
export { SOURCE_NAME } from './source-name';
export type { IssuedApiKey, SourceDefinition } from './source-admin.service';
export { API_KEY_FORMAT, apiKeyPrefix, generateApiKey, hashApiKey } from './api-key-format';
export { ApiKeyEntity } from './entities/api-key.entity';
export { ApiSourceEntity } from './entities/api-source.entity';
export { enforceSourcePolicy, RecipientCapException } from './source-policy';
export { isSuppressedRecipientsMode, SuppressedRecipientsMode } from './suppressed-recipients-mode';
