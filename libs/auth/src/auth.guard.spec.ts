import { Metadata } from '@grpc/grpc-js';
import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { loadConfigSlice } from '@mailgateway/config';
import { generateApiKey } from './api-key-format';
import { AuthGuard } from './auth.guard';
import { authConfig } from './auth.settings';
import { AuthenticationException, AuthenticationFailure } from './authentication.exception';
import { AuthService } from './auth.service';
import { CredentialCheckedAtCommit } from './credential-checked-at-commit.decorator';
import { CredentialRepository, KeyWithSource } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { principalOf } from './principal';
import { RequireRole } from './require-role.decorator';
import { Role } from './role';

class Handlers {
  @RequireRole(Role.MailSend)
  @CredentialCheckedAtCommit()
  send(): void {}

  @RequireRole(Role.MailSend)
  read(): void {}
}

function setup() {
  const issued = generateApiKey();
  const row: KeyWithSource = {
    key: Object.assign(new ApiKeyEntity(), {
      prefix: issued.prefix,
      source: 'billing',
      keyHash: issued.hash,
      createdAt: Date.now(),
      expiresAt: null,
      revokedAt: null,
      replacedBy: null,
    }),
    source: Object.assign(new ApiSourceEntity(), { name: 'billing', roles: 'mail.send' }),
  };
  const credentials = { findKey: jest.fn(async () => row) } as unknown as jest.Mocked<CredentialRepository>;
  const auth = new AuthService(credentials, loadConfigSlice(authConfig, { API_KEY_CACHE_MS: '5000' }));
  const sut = new AuthGuard(auth, new Reflector());
  /** Runs the guard for a call of `handler` with the key, as Nest would. */
  const call = async (handler: keyof Handlers) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${issued.key}`);
    const context = {
      switchToRpc: () => ({ getContext: () => metadata }),
      getArgByIndex: () => undefined,
      getHandler: () => Handlers.prototype[handler],
      getClass: () => Handlers,
    } as unknown as ExecutionContext;
    await sut.canActivate(context);
    return principalOf(metadata);
  };
  return { call, credentials, row };
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: AuthenticationException) => error.failure,
  );

describe(AuthGuard.name, () => {
  it('authenticates a handler marked CredentialCheckedAtCommit from the cache of verified keys', async () => {
    const { call, credentials, row } = setup();
    await call('send');
    row.key.revokedAt = Date.now();
    expect((await call('send')).credential).toEqual({ kind: 'api-key', prefix: row.key.prefix });
    expect(credentials.findKey).toHaveBeenCalledTimes(1);
  });

  it('looks the key up for every unmarked handler, even when the cache holds it', async () => {
    const { call, credentials, row } = setup();
    await call('send');
    await call('read');
    expect(credentials.findKey).toHaveBeenCalledTimes(2);
    row.key.revokedAt = Date.now();
    expect(await failureOf(call('read'))).toBe(AuthenticationFailure.Revoked);
  });

  it('still checks the role of a cached principal', async () => {
    const { call, row } = setup();
    row.source.roles = 'mail.read';
    await expect(call('send')).rejects.toThrow('lacks the role "mail.send"');
    await expect(call('send')).rejects.toThrow('lacks the role "mail.send"');
  });
});
