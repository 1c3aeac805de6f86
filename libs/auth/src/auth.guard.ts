import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PermissionDeniedException } from './permission-denied.exception';
import { AuthService } from './auth.service';
import { CREDENTIAL_CHECKED_AT_COMMIT } from './credential-checked-at-commit.decorator';
import { attachPrincipal } from './principal';
import { REQUIRED_ROLE } from './require-role.decorator';
import { Role } from './role';

/**
 * Authenticates every gRPC call and checks the role its handler requires. Failures are thrown as
 * typed exceptions (a guard returning false would reach the caller as UNKNOWN under gRPC). Only a
 * handler marked CredentialCheckedAtCommit may be authenticated from the cache of verified keys.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const metadata = context.switchToRpc().getContext<Metadata>();
    const call = context.getArgByIndex<ServerUnaryCall<unknown, unknown> | undefined>(2);
    const reuseVerifiedKey =
      this.reflector.get<boolean | undefined>(CREDENTIAL_CHECKED_AT_COMMIT, context.getHandler()) === true;
    const principal = await this.auth.authenticate(metadata, call?.getAuthContext?.()?.sslPeerCertificate, {
      reuseVerifiedKey,
    });
    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!role) throw new PermissionDeniedException('this call is not open to any role');
    if (!principal.roles.has(role)) {
      throw new PermissionDeniedException(
        `source "${principal.source}" lacks the role "${role}" this call needs`,
      );
    }
    attachPrincipal(metadata, principal);
    return true;
  }
}
