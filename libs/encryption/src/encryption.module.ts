import { Global, Logger, Module } from '@nestjs/common';
import { DatabaseConfig, databaseConfig, TransactionRunner } from '@mailgateway/database';
import { AddressHasher } from './address-hasher';
import { verifyKeyRing } from './content-key-registry';
import { ContentSealer } from './content-sealer';
import { EncryptionConfig, encryptionConfig } from './encryption.settings';
import { ContentFingerprinter } from './content-fingerprinter';
import { ADDRESS_HASH_KEY, CONTENT_FINGERPRINT_KEY, GatewaySecrets } from './gateway-secrets';
import { KeyRing } from './key-ring';
import { loadKeyRing } from './key-ring-source';

const logger = new Logger('Encryption');

/**
 * Content at rest: the operator's key ring (checked against the ids the database has seen), the
 * sealer the outbox seals and opens message content with, the address hasher erasure uses, and
 * the keyed fingerprint of content the outbox keeps for idempotent replays.
 * Global: the outbox and erasure inject them without importing this module. A ring that cannot be
 * used stops start-up, naming the key id.
 */
@Global()
@Module({
  providers: [
    {
      provide: KeyRing,
      inject: [encryptionConfig.token, databaseConfig.token, TransactionRunner],
      useFactory: async (
        config: EncryptionConfig,
        database: DatabaseConfig,
        transactions: TransactionRunner,
      ) => {
        const { ring, createdKeyFile, origin } = loadKeyRing(config, database);
        if (createdKeyFile) {
          logger.warn(
            `No content key ring was configured: created the content key ${ring.activeKeyId} in ${createdKeyFile}. ` +
              'Message content is sealed with it: back it up apart from the database; without it the messages cannot be read.',
          );
        }
        await verifyKeyRing(transactions, ring);
        logger.log(
          `Content key ring from ${origin}: ${ring.ids.join(', ')}; new messages use ${ring.activeKeyId}`,
        );
        return ring;
      },
    },
    { provide: ContentSealer, inject: [KeyRing], useFactory: (ring: KeyRing) => new ContentSealer(ring) },
    GatewaySecrets,
    {
      provide: AddressHasher,
      inject: [GatewaySecrets],
      useFactory: async (secrets: GatewaySecrets) => new AddressHasher(await secrets.get(ADDRESS_HASH_KEY)),
    },
    {
      provide: ContentFingerprinter,
      inject: [GatewaySecrets],
      useFactory: async (secrets: GatewaySecrets) =>
        new ContentFingerprinter(await secrets.get(CONTENT_FINGERPRINT_KEY)),
    },
  ],
  exports: [KeyRing, ContentSealer, GatewaySecrets, AddressHasher, ContentFingerprinter],
})
export class EncryptionModule {}
