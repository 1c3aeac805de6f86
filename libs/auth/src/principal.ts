import type { Metadata } from '@grpc/grpc-js';
import { Role } from './role';
import type { SuppressedRecipientsMode } from './suppressed-recipients-mode';

export interface SourcePolicy {
  /** Domains the From address may use (lowercase); empty allows any. */
  readonly allowedFromDomains: readonly string[];
  /** Recipient cap below the gateway's own; null means the gateway's. */
  readonly maxRecipients: number | null;
  /** Messages per rate-limit window; null means the gateway's default. */
  readonly rateLimitMessages: number | null;
  /** What SendMail does with a recipient on the suppression list. */
  readonly suppressedRecipients: SuppressedRecipientsMode;
}

/** The authenticated caller of one RPC. */
export interface Principal {
  readonly source: string;
  readonly roles: ReadonlySet<Role>;
  readonly policy: SourcePolicy;
  /** How the caller proved who it is: an API key (its prefix) or a client certificate. */
  readonly credential:
    | { readonly kind: 'api-key'; readonly prefix: string }
    | { readonly kind: 'certificate'; readonly identity: string };
}

// Keyed by the call's metadata object, which the guard and the handler both receive.
const principals = new WeakMap<Metadata, Principal>();

export function attachPrincipal(metadata: Metadata, principal: Principal): void {
  principals.set(metadata, principal);
}

/** The principal of this call, if the auth guard accepted it (telemetry of refused calls has none). */
export function findPrincipal(metadata: Metadata | undefined): Principal | undefined {
  return metadata && principals.get(metadata);
}

/** The principal the auth guard attached to this call; throws if the guard did not run. */
export function principalOf(metadata: Metadata | undefined): Principal {
  const principal = metadata && principals.get(metadata);
  if (!principal) throw new Error('no authenticated principal on this call: is AuthGuard applied?');
  return principal;
}
