import { SetMetadata } from '@nestjs/common';
import { Role } from './role';

export const REQUIRED_ROLE = 'mailgateway:required-role';

/** The role an RPC needs. An RPC without one is refused to everybody (fail closed). */
export const RequireRole = (role: Role) => SetMetadata(REQUIRED_ROLE, role);
