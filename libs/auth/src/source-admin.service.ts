import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { isUniqueViolation } from '@mailgateway/database';
import { MAX_API_KEY_LIFETIME_SECONDS, MAX_ROTATION_OVERLAP_SECONDS } from './api-key-durations';
import { generateApiKey } from './api-key-format';
import { AuthConfig, authConfig } from './auth.settings';
import { CredentialException, CredentialProblem } from './credential.exception';
import { CredentialRepository } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';
import { isRole, Role } from './role';
import { SOURCE_NAME } from './source-name';
import { SourceRoutes } from './source-routes.service';
import type { SuppressedRecipientsMode } from './suppressed-recipients-mode';

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const KEY_PREFIX = /^[0-9a-f]{12}$/;

export interface SourceDefinition {
  readonly name: string;
  readonly roles: readonly string[];
  readonly allowedFromDomains: readonly string[];
  /** null: the gateway's limit. */
  readonly maxRecipients: number | null;
  /** null: the gateway's default. */
  readonly rateLimitMessages: number | null;
  /** The drivers that deliver its mail, in order; empty: the gateway's default chain. */
  readonly drivers: readonly string[];
  /** What SendMail does with a suppressed recipient; null: the default, drop. */
  readonly suppressedRecipients?: SuppressedRecipientsMode | null;
  readonly certificateIdentity: string | null;
  /** Seconds a final message keeps its content (0: shredded at once); null: the gateway's setting. */
  readonly bodyRetentionSeconds?: number | null;
  /** Seconds a final message is kept; null: the gateway's setting. */
  readonly historyRetentionSeconds?: number | null;
}

/** The longest retention a source may ask for: ten years (the gateway's own settings' cap too). */
export const MAX_RETENTION_SECONDS = 3650 * 86_400;
/** The shortest history retention: an hour. */
export const MIN_HISTORY_RETENTION_SECONDS = 3_600;

/** Most drivers in one source's chain. */
export const MAX_SOURCE_DRIVERS = 5;
const DRIVER_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** A new key: `key` is shown to the caller this once and never stored. */
export interface IssuedApiKey {
  readonly key: string;
  readonly record: ApiKeyEntity;
}

/** Sources and keys for the admin RPCs and the bootstrap; validates input and names the field. */
@Injectable()
export class SourceAdminService {
  constructor(
    private readonly credentials: CredentialRepository,
    @InjectConfig(authConfig) private readonly config: AuthConfig,
    private readonly routes: SourceRoutes,
  ) {}

  async createSource(definition: SourceDefinition, now = Date.now()): Promise<ApiSourceEntity> {
    const source = this.toEntity(definition, now, now);
    if (await this.credentials.findSource(source.name)) {
      throw new CredentialException(CredentialProblem.SourceExists, `source "${source.name}" already exists`);
    }
    await this.uniqueIdentity(() => this.credentials.insertSource(source), source);
    this.routes.forget();
    return source;
  }

  /** Replaces the roles and policy of a source. */
  async updateSource(definition: SourceDefinition, now = Date.now()): Promise<ApiSourceEntity> {
    const existing = await this.requireSource(definition.name);
    const source = this.toEntity(definition, existing.createdAt, now);
    await this.uniqueIdentity(() => this.credentials.saveSource(source), source);
    this.routes.forget();
    return source;
  }

  listSources(): Promise<ApiSourceEntity[]> {
    return this.credentials.listSources();
  }

  async createKey(sourceName: string, expiresInMs: number | null, now = Date.now()): Promise<IssuedApiKey> {
    await this.requireSource(sourceName, 'source');
    const { key, record } = newKeyRecord(sourceName, expiresInMs, now);
    await this.credentials.insertKey(record);
    return { key, record };
  }

  async listKeys(sourceName?: string): Promise<ApiKeyEntity[]> {
    if (sourceName) await this.requireSource(sourceName, 'source');
    return this.credentials.listKeys(sourceName);
  }

  /**
   * Issues a new key for the key's source; the old key keeps working for `overlapMs` (default
   * API_KEY_ROTATION_OVERLAP_MS) so callers can roll out the new one without an outage.
   */
  async rotateKey(
    prefix: string,
    overlapMs: number | null,
    expiresInMs: number | null,
    now = Date.now(),
  ): Promise<IssuedApiKey & { previous: ApiKeyEntity }> {
    checkPrefix(prefix);
    checkDuration(overlapMs, 'overlap_seconds', MAX_ROTATION_OVERLAP_SECONDS, 'API_KEY_ROTATION_OVERLAP_MS');
    const { key, record } = newKeyRecord('', expiresInMs, now);
    const previous = await this.credentials.rotate(
      prefix,
      record,
      now + (overlapMs ?? this.config.rotationOverlapMs),
    );
    if (!previous) throw keyNotFound(prefix);
    return { key, record: { ...record, source: previous.source }, previous };
  }

  /** Refuses the key from now on, on every replica (keys are looked up on every call). */
  async revokeKey(prefix: string, now = Date.now()): Promise<ApiKeyEntity> {
    checkPrefix(prefix);
    const key = await this.credentials.revoke(prefix, now);
    if (!key) throw keyNotFound(prefix);
    return key;
  }

  private async requireSource(name: string, field = 'name'): Promise<ApiSourceEntity> {
    if (!SOURCE_NAME.test(name))
      throw CredentialException.invalidField(field, 'must be lowercase letters, digits and dashes');
    const source = await this.credentials.findSource(name);
    if (!source)
      throw new CredentialException(CredentialProblem.SourceNotFound, `source "${name}" not found`);
    return source;
  }

  private toEntity(definition: SourceDefinition, createdAt: number, updatedAt: number): ApiSourceEntity {
    if (!SOURCE_NAME.test(definition.name)) {
      throw CredentialException.invalidField(
        'name',
        'must be lowercase letters, digits and dashes, at most 63',
      );
    }
    if (definition.roles.length === 0)
      throw CredentialException.invalidField('roles', 'at least one role is required');
    definition.roles.forEach((role, index) => {
      if (!isRole(role)) {
        throw CredentialException.invalidField(
          `roles[${index}]`,
          `unknown role "${role}" (known: ${Object.values(Role).join(', ')})`,
        );
      }
    });
    const domains = definition.allowedFromDomains.map((domain) => domain.trim().toLowerCase());
    domains.forEach((domain, index) => {
      if (!DOMAIN.test(domain))
        throw CredentialException.invalidField(
          `policy.allowed_from_domains[${index}]`,
          'must be a domain name',
        );
    });
    checkPositive(definition.maxRecipients, 'policy.max_recipients');
    checkPositive(definition.rateLimitMessages, 'policy.rate_limit_messages');
    checkDrivers(definition.drivers);
    const bodyRetentionSeconds = definition.bodyRetentionSeconds ?? null;
    const historyRetentionSeconds = definition.historyRetentionSeconds ?? null;
    checkRetention(bodyRetentionSeconds, historyRetentionSeconds);
    const identity = definition.certificateIdentity?.trim() || null;
    if (identity && identity.length > 255) {
      throw CredentialException.invalidField('certificate_identity', 'at most 255 characters');
    }
    return Object.assign(new ApiSourceEntity(), {
      name: definition.name,
      roles: [...new Set(definition.roles)].join(','),
      allowedFromDomains: domains.length > 0 ? [...new Set(domains)].join(',') : null,
      maxRecipients: definition.maxRecipients,
      rateLimitMessages: definition.rateLimitMessages,
      drivers: definition.drivers.length > 0 ? definition.drivers.join(',') : null,
      suppressedRecipients: definition.suppressedRecipients ?? null,
      certificateIdentity: identity,
      bodyRetentionSeconds,
      historyRetentionSeconds,
      createdAt,
      updatedAt,
    });
  }

  private async uniqueIdentity(write: () => Promise<void>, source: ApiSourceEntity): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (source.certificateIdentity && isUniqueViolation(error)) {
        throw new CredentialException(
          CredentialProblem.CertificateIdentityTaken,
          `certificate identity "${source.certificateIdentity}" already belongs to another source`,
        );
      }
      throw error;
    }
  }
}

function newKeyRecord(source: string, expiresInMs: number | null, now: number): IssuedApiKey {
  checkDuration(expiresInMs, 'expires_in_seconds', MAX_API_KEY_LIFETIME_SECONDS, 'no expiry');
  const { key, prefix, hash } = generateApiKey();
  const record = Object.assign(new ApiKeyEntity(), {
    prefix,
    source,
    keyHash: hash,
    createdAt: now,
    expiresAt: expiresInMs === null ? null : now + expiresInMs,
    revokedAt: null,
    replacedBy: null,
  });
  return { key, record };
}

/** The chain's shape; whether this gateway runs each driver is checked where the drivers are known. */
function checkDrivers(drivers: readonly string[]): void {
  if (drivers.length > MAX_SOURCE_DRIVERS) {
    throw CredentialException.invalidField('policy.drivers', `at most ${MAX_SOURCE_DRIVERS} drivers`);
  }
  drivers.forEach((driver, index) => {
    if (!DRIVER_NAME.test(driver)) {
      throw CredentialException.invalidField(
        `policy.drivers[${index}]`,
        'must be a driver name, e.g. "smtp"',
      );
    }
    if (drivers.indexOf(driver) !== index) {
      throw CredentialException.invalidField(
        `policy.drivers[${index}]`,
        `"${driver}" is already in the chain`,
      );
    }
  });
}

function checkPrefix(prefix: string): void {
  if (!KEY_PREFIX.test(prefix))
    throw CredentialException.invalidField('prefix', 'must be the 12 hex digits after "mgw_"');
}

/**
 * A duration from a request, in milliseconds (null: the field was 0). A uint64 beyond 2^53 arrives
 * as an inexact number, so anything that is not a safe integer is refused with the rest.
 */
function checkDuration(ms: number | null, field: string, maxSeconds: number, zeroMeans: string): void {
  if (ms === null) return;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > maxSeconds * 1000) {
    throw CredentialException.invalidField(
      field,
      `must be from 1 to ${maxSeconds} seconds (${maxSeconds / 86_400} days), or 0 for ${zeroMeans}`,
    );
  }
}

/**
 * Each within its bounds, and content never kept longer than its message when both are given (one
 * against the gateway's other setting is cut to it when retention runs).
 */
function checkRetention(body: number | null, history: number | null): void {
  if (body !== null && (!Number.isInteger(body) || body < 0 || body > MAX_RETENTION_SECONDS)) {
    throw CredentialException.invalidField(
      'policy.body_retention_seconds',
      `must be 0 (shred at once) to ${MAX_RETENTION_SECONDS}`,
    );
  }
  if (
    history !== null &&
    (!Number.isInteger(history) || history < MIN_HISTORY_RETENTION_SECONDS || history > MAX_RETENTION_SECONDS)
  ) {
    throw CredentialException.invalidField(
      'policy.history_retention_seconds',
      `must be ${MIN_HISTORY_RETENTION_SECONDS} (an hour) to ${MAX_RETENTION_SECONDS}`,
    );
  }
  if (body !== null && history !== null && body > history) {
    throw CredentialException.invalidField(
      'policy.body_retention_seconds',
      `${body} is longer than policy.history_retention_seconds (${history}): content cannot outlive its message`,
    );
  }
}

function checkPositive(value: number | null, field: string): void {
  if (value !== null && (!Number.isInteger(value) || value < 1))
    throw CredentialException.invalidField(field, 'must be a positive integer');
}

function keyNotFound(prefix: string): CredentialException {
  return new CredentialException(CredentialProblem.ApiKeyNotFound, `API key ${prefix} not found`);
}
