import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { isUniqueViolation, TransactionRunner } from '@mailgateway/database';
import { apiKeyMatches, apiKeyPrefix, hashApiKey } from './api-key-format';
import { AuthConfig, authConfig } from './auth.settings';
import { CredentialException, CredentialProblem } from './credential.exception';
import { CredentialRepository } from './credential.repository';
import { ApiKeyEntity } from './entities/api-key.entity';
import { ALL_ROLES } from './role';
import { SourceAdminService } from './source-admin.service';

/**
 * A fresh gateway needs a way in. With BOOTSTRAP_API_KEY set, that key is registered for
 * BOOTSTRAP_SOURCE (once: its prefix is then known). Without it, a SQLite gateway with no source
 * creates one and prints its key once on stdout; PostgreSQL deployments set the variable instead.
 */
@Injectable()
export class CredentialBootstrap implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly credentials: CredentialRepository,
    private readonly admin: SourceAdminService,
    private readonly transactions: TransactionRunner,
    @InjectConfig(authConfig) private readonly config: AuthConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { bootstrapApiKey, bootstrapSource } = this.config;
    if (bootstrapApiKey) return this.registerKey(bootstrapApiKey, bootstrapSource);
    if ((await this.credentials.countSources()) > 0) return;
    if (this.transactions.dialect !== 'sqlite') {
      this.logger.warn(
        'No API source exists yet and BOOTSTRAP_API_KEY is unset: every call will be refused. ' +
          'Set BOOTSTRAP_API_KEY (see `mailgateway keys generate`) to get an admin key.',
      );
      return;
    }
    await this.ensureSource(bootstrapSource);
    const { key } = await this.admin.createKey(bootstrapSource, null);
    // Shown this once, on stdout rather than the log: only its hash is stored.
    process.stdout.write(
      [
        '',
        `No API source existed: created source "${bootstrapSource}" (roles ${ALL_ROLES.join(', ')}) and its key.`,
        'The key is shown only now. The CLI reads it from MAILGATEWAY_API_KEY:',
        '',
        `  export MAILGATEWAY_API_KEY=${key}`,
        '',
        '',
      ].join('\n'),
    );
  }

  private async registerKey(key: string, sourceName: string): Promise<void> {
    const prefix = apiKeyPrefix(key)!;
    const existing = await this.credentials.findKey(prefix);
    if (existing) {
      if (!apiKeyMatches(key, existing.key.keyHash)) {
        this.logger.warn(`BOOTSTRAP_API_KEY: prefix ${prefix} belongs to another key; not registered`);
      }
      return;
    }
    await this.ensureSource(sourceName);
    try {
      await this.credentials.insertKey(
        Object.assign(new ApiKeyEntity(), {
          prefix,
          source: sourceName,
          keyHash: hashApiKey(key),
          createdAt: Date.now(),
          expiresAt: null,
          revokedAt: null,
          replacedBy: null,
        }),
      );
      this.logger.log(`Registered BOOTSTRAP_API_KEY ${prefix} for source "${sourceName}"`);
    } catch (error) {
      // Another replica registered it at the same moment.
      if (!isUniqueViolation(error)) throw error;
    }
  }

  private async ensureSource(name: string): Promise<void> {
    if (await this.credentials.findSource(name)) return;
    try {
      await this.admin.createSource({
        name,
        roles: ALL_ROLES,
        allowedFromDomains: [],
        maxRecipients: null,
        rateLimitMessages: null,
        drivers: [],
        certificateIdentity: null,
      });
    } catch (error) {
      // Another replica created it at the same moment (replicas of a rollout start together).
      const createdElsewhere =
        isUniqueViolation(error) ||
        (error instanceof CredentialException && error.problem === CredentialProblem.SourceExists);
      if (!createdElsewhere) throw error;
    }
  }
}
