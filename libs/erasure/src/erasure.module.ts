import { Global, Module } from '@nestjs/common';
import { AddressHasher } from '@mailgateway/encryption';
import { OutboxModule } from '@mailgateway/outbox';
import { ERASED_ADDRESS_HASH } from '@mailgateway/suppression';
import { AddressErasure } from './address-erasure.service';

/**
 * Erasure of a person (AddressErasure), and the hash the suppression list looks erased addresses
 * up by: the gateway's AddressHasher (provided by the EncryptionModule), the same one erasure
 * writes with. Global, so the SuppressionList of every module finds it.
 */
@Global()
@Module({
  imports: [OutboxModule],
  providers: [AddressErasure, { provide: ERASED_ADDRESS_HASH, useExisting: AddressHasher }],
  exports: [AddressErasure, ERASED_ADDRESS_HASH],
})
export class ErasureModule {}
