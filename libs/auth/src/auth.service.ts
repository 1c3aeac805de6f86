import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { apiKeyMatches, apiKeyPrefix } from './api-key-format';
import { AuthConfig, authConfig } from './auth.settings';
import { AuthenticationException, AuthenticationFailure } from './authentication.exception';
import { certificateIdentities } from './certificate-identity';
import { CredentialRepository } from './credential.repository';
import { ApiSourceEntity } from './entities/api-source.entity';
import { Principal } from './principal';
import { isRole, Role } from './role';
import { isSuppressedRecipientsMode, SuppressedRecipientsMode } from './suppressed-recipients-mode';
import { VerifiedKeyCache } from './verified-key-cache';

const BEARER = /^Bearer (\S+)$/i;
const MAX_CACHED_KEYS = 10_000;

export interface AuthenticateOptions {
  /**
   * The handler's commit checks the key again (CredentialCheckedAtCommit), so a key verified within
   * API_KEY_CACHE_MS may be taken from the cache instead of the database.
   */
  readonly reuseVerifiedKey?: boolean;
}

/** Turns a call's credentials (an API key, or a verified client certificate) into a Principal. */
@Injectable()
export class AuthService {
  private readonly verifiedKeys: VerifiedKeyCache;

  constructor(
    private readonly credentials: CredentialRepository,
    @InjectConfig(authConfig) config: AuthConfig,
  ) {
    this.verifiedKeys = new VerifiedKeyCache(config.cacheMs, MAX_CACHED_KEYS);
  }

  async authenticate(
    metadata: Metadata,
    peerCertificate?: PeerCertificate,
    options: AuthenticateOptions = {},
  ): Promise<Principal> {
    const authorization = metadata.get('authorization');
    if (authorization.length > 0) {
      const match = authorization.length === 1 ? BEARER.exec(String(authorization[0])) : null;
      if (!match) throw new AuthenticationException(AuthenticationFailure.Malformed);
      return this.authenticateApiKey(match[1], options);
    }
    const identities = certificateIdentities(peerCertificate);
    if (identities.length > 0) return this.authenticateCertificate(identities);
    throw new AuthenticationException(AuthenticationFailure.Missing);
  }

  async authenticateApiKey(
    key: string,
    { reuseVerifiedKey = false }: AuthenticateOptions = {},
    now = Date.now(),
  ): Promise<Principal> {
    const prefix = apiKeyPrefix(key);
    if (!prefix) throw new AuthenticationException(AuthenticationFailure.Malformed);
    if (reuseVerifiedKey) {
      const cached = this.verifiedKeys.find(prefix, key, now);
      if (cached) return cached;
    }
    const found = await this.credentials.findKey(prefix);
    if (!found || !apiKeyMatches(key, found.key.keyHash)) {
      // Gone from the database: so from the cache. (A wrong secret leaves the real key's entry alone.)
      if (!found) this.verifiedKeys.forget(prefix);
      throw new AuthenticationException(AuthenticationFailure.Unknown);
    }
    const failure =
      found.key.revokedAt !== null
        ? AuthenticationFailure.Revoked
        : found.key.expiresAt !== null && found.key.expiresAt <= now
          ? AuthenticationFailure.Expired
          : undefined;
    if (failure) {
      // A lookup is fresher than the cache: a key found invalid leaves it at once.
      this.verifiedKeys.forget(prefix);
      throw new AuthenticationException(failure);
    }
    const principal = toPrincipal(found.source, { kind: 'api-key', prefix });
    this.verifiedKeys.remember(prefix, found.key.keyHash, principal, found.key.expiresAt, now);
    return principal;
  }

  private async authenticateCertificate(identities: readonly string[]): Promise<Principal> {
    for (const identity of identities) {
      const source = await this.credentials.findSourceByCertificateIdentity(identity);
      if (source) return toPrincipal(source, { kind: 'certificate', identity });
    }
    throw new AuthenticationException(AuthenticationFailure.UnknownCertificate);
  }
}

export function toPrincipal(source: ApiSourceEntity, credential: Principal['credential']): Principal {
  return {
    source: source.name,
    roles: new Set(splitList(source.roles).filter(isRole)) as ReadonlySet<Role>,
    policy: {
      allowedFromDomains: splitList(source.allowedFromDomains ?? ''),
      maxRecipients: source.maxRecipients,
      rateLimitMessages: source.rateLimitMessages,
      suppressedRecipients: isSuppressedRecipientsMode(source.suppressedRecipients)
        ? source.suppressedRecipients
        : SuppressedRecipientsMode.Drop,
    },
    credential,
  };
}

export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
