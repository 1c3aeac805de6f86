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
/** What the guard asks for a handler marked CredentialCheckedAtCommit. */
const CACHED = { reuseVerifiedKey: true };

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

  it('looks the key up on every call unless the caller may reuse a verified key', async () => {
    const { sut, credentials, row, key } = setup(2_000);
    await sut.authenticateApiKey(key, CACHED, NOW);
    row.key.revokedAt = NOW;
    expect(await failureOf(sut.authenticateApiKey(key, {}, NOW + 1))).toBe(AuthenticationFailure.Revoked);
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
  });

  it('reuses a verified key for at most API_KEY_CACHE_MS, and never a failed lookup', async () => {
    const { sut, credentials, row, key } = setup(2_000);
    await sut.authenticateApiKey(key, CACHED, NOW);
    row.key.revokedAt = NOW;
    await sut.authenticateApiKey(key, CACHED, NOW + 1_999);
    expect(credentials.findKey).toHaveBeenCalledTimes(1);
    expect(await failureOf(sut.authenticateApiKey(key, CACHED, NOW + 2_000))).toBe(
      AuthenticationFailure.Revoked,
    );
    expect(await failureOf(sut.authenticateApiKey(key, CACHED, NOW + 2_001))).toBe(
      AuthenticationFailure.Revoked,
    );
    expect(credentials.findKey).toHaveBeenCalledTimes(3);
  });

  it('drops a cached key as soon as any lookup finds it revoked', async () => {
    const { sut, credentials, row, key } = setup(2_000);
    await sut.authenticateApiKey(key, CACHED, NOW);
    row.key.revokedAt = NOW;
    expect(await failureOf(sut.authenticateApiKey(key, {}, NOW + 1))).toBe(AuthenticationFailure.Revoked);
    expect(await failureOf(sut.authenticateApiKey(key, CACHED, NOW + 2))).toBe(AuthenticationFailure.Revoked);
    expect(credentials.findKey).toHaveBeenCalledTimes(3);
  });

  it('never reuses a key past its expiry, even within API_KEY_CACHE_MS', async () => {
    const { sut, credentials, row, key } = setup(2_000);
    row.key.expiresAt = NOW + 10;
    await sut.authenticateApiKey(key, CACHED, NOW);
    await sut.authenticateApiKey(key, CACHED, NOW + 9);
    expect(credentials.findKey).toHaveBeenCalledTimes(1);
    expect(await failureOf(sut.authenticateApiKey(key, CACHED, NOW + 10))).toBe(
      AuthenticationFailure.Expired,
    );
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
  });

  it('checks the secret of a cached prefix: a forged key is refused and the real one stays cached', async () => {
    const { sut, credentials, key } = setup(2_000);
    await sut.authenticateApiKey(key, CACHED, NOW);
    const forged = key.slice(0, 17) + generateApiKey().key.slice(17);
    expect(await failureOf(sut.authenticateApiKey(forged, CACHED, NOW + 1))).toBe(
      AuthenticationFailure.Unknown,
    );
    await sut.authenticateApiKey(key, CACHED, NOW + 2);
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
  });

  it('caches nothing when API_KEY_CACHE_MS is 0', async () => {
    const { sut, credentials, key } = setup(0);
    await sut.authenticateApiKey(key, CACHED, NOW);
    await sut.authenticateApiKey(key, CACHED, NOW);
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
  });
});
