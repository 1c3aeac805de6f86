import { loadConfigSlice } from '@mailgateway/config';
import { ErrorCode } from '@mailgateway/errors';
import { MAX_API_KEY_LIFETIME_SECONDS, MAX_ROTATION_OVERLAP_SECONDS } from './api-key-durations';
import { authConfig } from './auth.settings';
import { CredentialException } from './credential.exception';
import { CredentialRepository } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { SourceAdminService, SourceDefinition } from './source-admin.service';
import { SourceRoutes } from './source-routes.service';

const NOW = 1_800_000_000_000;
const PREFIX = '0123456789ab';
const UINT64_MAX = Number(2n ** 64n - 1n);

function setup() {
  const source = Object.assign(new ApiSourceEntity(), { name: 'billing' });
  const previous = Object.assign(new ApiKeyEntity(), { prefix: PREFIX, source: 'billing', expiresAt: null });
  const credentials = {
    findSource: jest.fn(async () => source),
    insertKey: jest.fn(async () => undefined),
    saveSource: jest.fn(async () => undefined),
    rotate: jest.fn(async (_prefix: string, _next: ApiKeyEntity, expiresAt: number) => ({
      ...previous,
      expiresAt,
    })),
  } as unknown as jest.Mocked<CredentialRepository>;
  const config = loadConfigSlice(authConfig, { API_KEY_ROTATION_OVERLAP_MS: '3600000' });
  const routes = new SourceRoutes(credentials);
  return { sut: new SourceAdminService(credentials, config, routes), credentials };
}

async function refusal(call: Promise<unknown>): Promise<CredentialException> {
  return call.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: CredentialException) => error,
  );
}

describe(SourceAdminService.name, () => {
  describe('key lifetime (expires_in_seconds)', () => {
    it.each([
      ['2^64 - 1 seconds', UINT64_MAX * 1000],
      ['10^12 seconds', 1e12 * 1000],
      ['one second over the cap', (MAX_API_KEY_LIFETIME_SECONDS + 1) * 1000],
    ])('refuses %s naming the field, and stores nothing', async (_case, expiresInMs) => {
      const { sut, credentials } = setup();
      const error = await refusal(sut.createKey('billing', expiresInMs, NOW));
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.field).toBe('expires_in_seconds');
      expect(error.reason).toBe('must be from 1 to 315360000 seconds (3650 days), or 0 for no expiry');
      expect(credentials.insertKey).not.toHaveBeenCalled();
    });

    it('issues a key with the longest lifetime, expiring exactly then', async () => {
      const { sut } = setup();
      const { record } = await sut.createKey('billing', MAX_API_KEY_LIFETIME_SECONDS * 1000, NOW);
      expect(record.expiresAt).toBe(NOW + MAX_API_KEY_LIFETIME_SECONDS * 1000);
    });

    it('refuses an over-long lifetime for the new key of a rotation before touching the old one', async () => {
      const { sut, credentials } = setup();
      const error = await refusal(sut.rotateKey(PREFIX, null, UINT64_MAX * 1000, NOW));
      expect(error.field).toBe('expires_in_seconds');
      expect(credentials.rotate).not.toHaveBeenCalled();
    });
  });

  describe('rotation overlap (overlap_seconds)', () => {
    it.each([
      ['2^64 - 1 seconds', UINT64_MAX * 1000],
      ['10^12 seconds', 1e12 * 1000],
      ['one second over the cap', (MAX_ROTATION_OVERLAP_SECONDS + 1) * 1000],
    ])('refuses %s naming the field, and rotates nothing', async (_case, overlapMs) => {
      const { sut, credentials } = setup();
      const error = await refusal(sut.rotateKey(PREFIX, overlapMs, null, NOW));
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.field).toBe('overlap_seconds');
      expect(error.reason).toBe(
        'must be from 1 to 2592000 seconds (30 days), or 0 for API_KEY_ROTATION_OVERLAP_MS',
      );
      expect(credentials.rotate).not.toHaveBeenCalled();
    });

    it('lets the old key run for the longest overlap', async () => {
      const { sut, credentials } = setup();
      await sut.rotateKey(PREFIX, MAX_ROTATION_OVERLAP_SECONDS * 1000, null, NOW);
      expect(credentials.rotate).toHaveBeenCalledWith(
        PREFIX,
        expect.any(ApiKeyEntity),
        NOW + MAX_ROTATION_OVERLAP_SECONDS * 1000,
      );
    });

    it('uses API_KEY_ROTATION_OVERLAP_MS when the call names none', async () => {
      const { sut, credentials } = setup();
      await sut.rotateKey(PREFIX, null, null, NOW);
      expect(credentials.rotate).toHaveBeenCalledWith(PREFIX, expect.any(ApiKeyEntity), NOW + 3_600_000);
    });
  });

  describe('retention (policy.body_retention_seconds, policy.history_retention_seconds)', () => {
    const definition = (retention: Partial<SourceDefinition>): SourceDefinition => ({
      name: 'billing',
      roles: ['mail.send'],
      allowedFromDomains: [],
      maxRecipients: null,
      rateLimitMessages: null,
      drivers: [],
      certificateIdentity: null,
      ...retention,
    });

    it.each([
      ['a negative body retention', { bodyRetentionSeconds: -1 }, 'policy.body_retention_seconds'],
      [
        'a history retention under an hour',
        { historyRetentionSeconds: 3599 },
        'policy.history_retention_seconds',
      ],
      [
        'a history retention over ten years',
        { historyRetentionSeconds: 3650 * 86_400 + 1 },
        'policy.history_retention_seconds',
      ],
      [
        'a body retention longer than the history retention',
        { bodyRetentionSeconds: 7200, historyRetentionSeconds: 3600 },
        'policy.body_retention_seconds',
      ],
    ])('refuses %s naming the field, and stores nothing', async (_case, retention, field) => {
      const { sut, credentials } = setup();
      const error = await refusal(sut.updateSource(definition(retention), NOW));
      expect(error.code).toBe(ErrorCode.InvalidArgument);
      expect(error.field).toBe(field);
      expect(credentials.saveSource).not.toHaveBeenCalled();
    });

    it('keeps 0 (shred at once) apart from unset (the gateway setting)', async () => {
      const { sut } = setup();
      const zero = await sut.updateSource(
        definition({ bodyRetentionSeconds: 0, historyRetentionSeconds: 3600 }),
        NOW,
      );
      expect(zero).toMatchObject({ bodyRetentionSeconds: 0, historyRetentionSeconds: 3600 });
      const unset = await sut.updateSource(definition({}), NOW);
      expect(unset).toMatchObject({ bodyRetentionSeconds: null, historyRetentionSeconds: null });
    });
  });
});
