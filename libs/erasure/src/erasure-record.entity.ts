import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@mailgateway/database';

/** That an address was erased, and what was done; the address itself is not kept, only its hash. */
@Entity({ name: 'erasure_record' })
@Index('erasure_record_address_hash', ['addressHash', 'erasedAt'])
export class ErasureRecordEntity {
  /** A lowercase UUID. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** "h:" and 64 hex digits: the AddressHasher's keyed hash of the address. */
  @Column({ name: 'address_hash', type: 'varchar', length: 66 })
  addressHash!: string;

  /** Why (a ticket reference), with the address replaced by its hash should it name it. */
  @Column({ type: 'text' })
  reason!: string;

  /** The source whose admin key asked for it. */
  @Column({ name: 'requested_by', type: 'varchar', length: 64 })
  requestedBy!: string;

  /** When the run that finished it (or, while started, the one under way) began. */
  @Column({ name: 'erased_at', type: 'bigint', transformer: bigintAsNumber })
  erasedAt!: number;

  /** "started" until the last batch is done, then "done"; erasing the address again completes a started one. */
  @Column({ type: 'varchar', length: 16, default: 'done' })
  state!: 'started' | 'done';

  @Column({ name: 'messages_shredded', type: 'integer' })
  messagesShredded!: number;

  @Column({ name: 'records_redacted', type: 'integer' })
  recordsRedacted!: number;

  @Column({ name: 'suppressions_kept', type: 'integer' })
  suppressionsKept!: number;
}
