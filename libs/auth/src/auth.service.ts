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

const BEARER = /^Bearer (\S+)$/i;
const MAX_CACHED_KEYS = 10_000;

/** Turns a call's credentials (an API key, or a verified client certificate) into a Principal. */
@Injectable()
export class AuthService {
  // Positive results only, for at most API_KEY_CACHE_MS (≤ 1 s); 0 turns it off.
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly cacheMs: number;

  constructor(
    private readonly credentials: CredentialRepository,
    @InjectConfig(authConfig) config: AuthConfig,
  ) {
    this.cacheMs = config.cacheMs;
  }

  async authenticate(metadata: Metadata, peerCertificate?: PeerCertificate): Promise<Principal> {
    const authorization = metadata.get('authorization');
    if (authorization.length > 0) {
      const match = authorization.length === 1 ? BEARER.exec(String(authorization[0])) : null;
      if (!match) throw new AuthenticationException(AuthenticationFailure.Malformed);
      return this.authenticateApiKey(match[1]);
    }
    const identities = certificateIdentities(peerCertificate);
    if (identities.length > 0) return this.authenticateCertificate(identities);
    throw new AuthenticationException(AuthenticationFailure.Missing);
  }

  async authenticateApiKey(key: string, now = Date.now()): Promise<Principal> {
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.principal;
    const prefix = apiKeyPrefix(key);
    if (!prefix) throw new AuthenticationException(AuthenticationFailure.Malformed);
    const found = await this.credentials.findKey(prefix);
    if (!found || !apiKeyMatches(key, found.key.keyHash)) {
      throw new AuthenticationException(AuthenticationFailure.Unknown);
    }
    if (found.key.revokedAt !== null) throw new AuthenticationException(AuthenticationFailure.Revoked);
    if (found.key.expiresAt !== null && found.key.expiresAt <= now) {
      throw new AuthenticationException(AuthenticationFailure.Expired);
    }
    const principal = toPrincipal(found.source, { kind: 'api-key', prefix });
    if (this.cacheMs > 0) {
      if (this.cache.size >= MAX_CACHED_KEYS) this.cache.clear();
      this.cache.set(key, {
        principal,
        until: Math.min(now + this.cacheMs, found.key.expiresAt ?? Infinity),
      });
    }
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
