import { Injectable } from '@nestjs/common';
import { TransactionRunner } from '@mailgateway/database';
import { IsNull, Not } from 'typeorm';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ApiSourceEntity } from './entities/api-source.entity';

export interface KeyWithSource {
  readonly key: ApiKeyEntity;
  readonly source: ApiSourceEntity;
}

/** Sources and their keys, in the gateway's database. */
@Injectable()
export class CredentialRepository {
  constructor(private readonly transactions: TransactionRunner) {}

  /** The key with this prefix and its source, in one query: this runs on every call. */
  async findKey(prefix: string): Promise<KeyWithSource | null> {
    const parameters = this.transactions.parameters();
    const rows = await this.transactions.read<Record<string, unknown>[]>((manager) =>
      manager.query(
        `SELECT k.prefix, k.source, k.key_hash, k.created_at, k.expires_at, k.revoked_at, k.replaced_by,
              s.roles, s.allowed_from_domains, s.max_recipients, s.rate_limit_messages, s.suppressed_recipients,
              s.certificate_identity, s.created_at AS source_created_at, s.updated_at AS source_updated_at
         FROM api_key k JOIN api_source s ON s.name = k.source
        WHERE k.prefix = ${parameters.add(prefix)}`,
        parameters.values,
      ),
    );
    const row = rows[0];
    if (!row) return null;
    const key = Object.assign(new ApiKeyEntity(), {
      prefix: row.prefix as string,
      source: row.source as string,
      keyHash: row.key_hash as string,
      createdAt: Number(row.created_at),
      expiresAt: nullableNumber(row.expires_at),
      revokedAt: nullableNumber(row.revoked_at),
      replacedBy: (row.replaced_by as string | null) ?? null,
    });
    const source = Object.assign(new ApiSourceEntity(), {
      name: row.source as string,
      roles: row.roles as string,
      allowedFromDomains: (row.allowed_from_domains as string | null) ?? null,
      maxRecipients: nullableNumber(row.max_recipients),
      rateLimitMessages: nullableNumber(row.rate_limit_messages),
      suppressedRecipients: (row.suppressed_recipients as string | null) ?? null,
      certificateIdentity: (row.certificate_identity as string | null) ?? null,
      createdAt: Number(row.source_created_at),
      updatedAt: Number(row.source_updated_at),
    });
    return { key, source };
  }

  findSource(name: string): Promise<ApiSourceEntity | null> {
    return this.transactions.read((manager) => manager.findOneBy(ApiSourceEntity, { name }));
  }

  findSourceByCertificateIdentity(identity: string): Promise<ApiSourceEntity | null> {
    return this.transactions.read((manager) =>
      manager.findOneBy(ApiSourceEntity, { certificateIdentity: identity }),
    );
  }

  listSources(): Promise<ApiSourceEntity[]> {
    return this.transactions.read((manager) => manager.find(ApiSourceEntity, { order: { name: 'ASC' } }));
  }

  /** Each source that has a driver chain of its own, with it (comma-separated). */
  async listSourceDrivers(): Promise<{ name: string; drivers: string }[]> {
    const sources = await this.transactions.read((manager) =>
      manager.find(ApiSourceEntity, {
        select: { name: true, drivers: true },
        where: { drivers: Not(IsNull()) },
      }),
    );
    return sources.map(({ name, drivers }) => ({ name, drivers: drivers! }));
  }

  countSources(): Promise<number> {
    return this.transactions.read((manager) => manager.count(ApiSourceEntity));
  }

  async insertSource(source: ApiSourceEntity): Promise<void> {
    await this.transactions.run((manager) => manager.insert(ApiSourceEntity, source));
  }

  async saveSource(source: ApiSourceEntity): Promise<void> {
    await this.transactions.run((manager) => manager.save(ApiSourceEntity, source));
  }

  async insertKey(key: ApiKeyEntity): Promise<void> {
    await this.transactions.run((manager) => manager.insert(ApiKeyEntity, key));
  }

  listKeys(source?: string): Promise<ApiKeyEntity[]> {
    return this.transactions.read((manager) =>
      manager.find(ApiKeyEntity, {
        where: source ? { source } : {},
        order: { source: 'ASC', createdAt: 'ASC' },
      }),
    );
  }

  /**
   * Adds `next` and lets `previous` run out at `previousExpiresAt`, in one transaction, so a
   * rotation never leaves the source with no key or with two keys that never expire.
   */
  async rotate(
    previousPrefix: string,
    next: ApiKeyEntity,
    previousExpiresAt: number,
  ): Promise<ApiKeyEntity | null> {
    return this.transactions.run(async (manager) => {
      const previous = await manager.findOneBy(ApiKeyEntity, { prefix: previousPrefix, revokedAt: IsNull() });
      if (!previous) return null;
      await manager.insert(ApiKeyEntity, { ...next, source: previous.source });
      previous.expiresAt = Math.min(previous.expiresAt ?? Infinity, previousExpiresAt);
      previous.replacedBy = next.prefix;
      await manager.save(ApiKeyEntity, previous);
      return previous;
    });
  }

  /** Marks the key revoked; false if there is no such key. Revoking twice keeps the first time. */
  async revoke(prefix: string, at: number): Promise<ApiKeyEntity | null> {
    return this.transactions.run(async (manager) => {
      const key = await manager.findOneBy(ApiKeyEntity, { prefix });
      if (!key) return null;
      if (key.revokedAt === null) {
        key.revokedAt = at;
        await manager.save(ApiKeyEntity, key);
      }
      return key;
    });
  }
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
