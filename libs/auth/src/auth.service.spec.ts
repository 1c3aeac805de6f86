import { Metadata } from '@grpc/grpc-js';
import { loadConfigSlice } from '@mailgateway/config';
import { generateApiKey } from './api-key-format';
import { authConfig } from './auth.settings';
import { AuthenticationException, AuthenticationFailure } from './authentication.exception';
import { AuthService } from './auth.service';
import { CredentialRepository, KeyWithSource } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { Role } from './role';
import { SuppressedRecipientsMode } from './suppressed-recipients-mode';

const NOW = 1_800_000_000_000;

function setup(cacheMs: number) {
  const issued = generateApiKey();
  const row: KeyWithSource = {
    key: Object.assign(new ApiKeyEntity(), {
      prefix: issued.prefix,
      source: 'billing',
      keyHash: issued.hash,
      createdAt: NOW,
      expiresAt: null,
      revokedAt: null,
      replacedBy: null,
    }),
    source: Object.assign(new ApiSourceEntity(), {
      name: 'billing',
      roles: 'mail.send,mail.read',
      allowedFromDomains: 'example.com',
      maxRecipients: 5,
      rateLimitMessages: null,
      suppressedRecipients: 'refuse',
      certificateIdentity: null,
      createdAt: NOW,
      updatedAt: NOW,
    }),
  };
  const credentials = { findKey: jest.fn(async () => row) } as unknown as jest.Mocked<CredentialRepository>;
  const config = loadConfigSlice(authConfig, { API_KEY_CACHE_MS: String(cacheMs) });
  return { sut: new AuthService(credentials, config), credentials, row, key: issued.key };
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: AuthenticationException) => error.failure,
  );

describe(AuthService.name, () => {
  it('turns a valid key into its source, roles and policy', async () => {
    const { sut, key } = setup(0);
    const metadata = new Metadata();
    metadata.set('authorization', `bearer ${key}`);
    expect(await sut.authenticate(metadata)).toEqual({
      source: 'billing',
      roles: new Set([Role.MailSend, Role.MailRead]),
      policy: {
        allowedFromDomains: ['example.com'],
        maxRecipients: 5,
        rateLimitMessages: null,
        suppressedRecipients: SuppressedRecipientsMode.Refuse,
      },
      credential: { kind: 'api-key', prefix: key.slice(4, 16) },
    });
  });

  it('looks the key up on every call when the cache is off, so a revocation applies at once', async () => {
    const { sut, credentials, row, key } = setup(0);
    await sut.authenticateApiKey(key, NOW);
    row.key.revokedAt = NOW;
    expect(await failureOf(sut.authenticateApiKey(key, NOW))).toBe(AuthenticationFailure.Revoked);
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
  });

  it('reuses a successful lookup for at most API_KEY_CACHE_MS, and never a failed one', async () => {
    const { sut, credentials, row, key } = setup(1_000);
    await sut.authenticateApiKey(key, NOW);
    row.key.revokedAt = NOW;
    await sut.authenticateApiKey(key, NOW + 999);
    expect(credentials.findKey).toHaveBeenCalledTimes(1);
    expect(await failureOf(sut.authenticateApiKey(key, NOW + 1_000))).toBe(AuthenticationFailure.Revoked);
    expect(await failureOf(sut.authenticateApiKey(key, NOW + 1_001))).toBe(AuthenticationFailure.Revoked);
    expect(credentials.findKey).toHaveBeenCalledTimes(3);
  });

  it('never caches a key past its expiry', async () => {
    const { sut, row, key } = setup(1_000);
    row.key.expiresAt = NOW + 10;
    await sut.authenticateApiKey(key, NOW);
    expect(await failureOf(sut.authenticateApiKey(key, NOW + 10))).toBe(AuthenticationFailure.Expired);
  });
});
