import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ChannelListener, runStatement, TransactionRunner } from '@mailgateway/database';
import { AddressFilter, addressDigest, isAddressDigest } from './address-filter';

/** The PostgreSQL channel on which a transaction that adds entries tells every replica, at its commit. */
const SUPPRESSION_CHANNEL = 'mailgateway_suppressions';
/** PostgreSQL refuses payloads of 8000 bytes: larger announcements go as several. */
const MAX_PAYLOAD_LENGTH = 7_000;
/**
 * An announcement's item that says some of its entries are erased addresses' hashes. Not a
 * digest, so a process that does not know it passes over it.
 */
const ERASED_MARKER = 'erased';
/** Room for the list to grow before the filter is rebuilt larger. */
const MIN_CAPACITY = 65_536;
const CAPACITY_PER_ENTRY = 2;
/** Rows per statement of a build. */
const SCAN_PAGE = 10_000;
/** A fresh build drops what was lifted, expired, or written past the gateway (by hand in SQL). */
const REBUILD_EVERY_MS = 10 * 60_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * Which addresses may be on the suppression list, in memory, so that an accept asks the table
 * only about those (about 1% of the others by chance) instead of about every recipient.
 *
 * Until it is ready, and whenever it may have missed an entry (on PostgreSQL: while its LISTEN
 * connection is down), it answers "maybe" for every address: lookups as if there were no filter.
 * Entries are added to it when this process writes them (before their commit: a rollback only
 * leaves a false positive) and, from other replicas, by the NOTIFY their writing transaction sends
 * at its commit. It starts on first use, so processes that never accept mail do not hold one.
 */
export class SuppressionFilter {
  private readonly logger = new Logger('SuppressionFilter');
  private readonly postgres: boolean;
  /** Null: not ready, every address may be suppressed. */
  private filter: AddressFilter | null = null;
  /** Whether the filter in use may hold an erased address's hash (none: no need to hash for it). */
  private holdsErased = false;
  /** The filter being built, fed what is announced meanwhile as well. */
  private building: AddressFilter | null = null;
  private buildingHoldsErased = false;
  private rebuilding = false;
  /** Bumped whenever announcements may have been missed: a build begun before is not installed. */
  private generation = 0;
  private started = false;
  private closed = false;
  /** On PostgreSQL, whether LISTEN holds: only then may a filter be used. */
  private listening = false;
  private listener: ChannelListener | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private rebuildTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = RETRY_MIN_MS;

  /** `isErased`: whether a stored address is an erased address's hash (none are without a hasher). */
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly isErased: (address: string) => boolean = () => false,
  ) {
    this.postgres = transactions.dialect === 'postgres';
  }

  /** Whether the filter is in use: built, and on PostgreSQL listening for other replicas' entries. */
  get ready(): boolean {
    return this.filter !== null;
  }

  /**
   * False only where the list surely holds no entry under an erased address's hash, so that the
   * keyed hash of each recipient need not be worked out to ask for it.
   */
  get mayHoldErased(): boolean {
    return this.filter === null || this.holdsErased;
  }

  /** False only where the address (lowercased, or the hash an erased one is kept as) is surely not listed. */
  mayContain(address: string): boolean {
    if (!this.started) this.start();
    return this.filter?.mayContain(addressDigest(address)) ?? true;
  }

  /**
   * In the transaction that writes entries for these addresses (as stored): into this process's
   * filter at once and, on PostgreSQL, to every replica's when the transaction commits.
   */
  async announce(manager: EntityManager, addresses: readonly string[]): Promise<void> {
    const digests = [...new Set(addresses)].map(addressDigest);
    const erased = addresses.some(this.isErased);
    this.remember(digests, erased);
    if (!this.postgres) return;
    for (const payload of payloads(digests, erased)) {
      await runStatement(manager, 'SELECT pg_notify($1, $2)', [SUPPRESSION_CHANNEL, payload]);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation += 1;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.rebuildTimer) clearInterval(this.rebuildTimer);
    await this.listener?.close();
  }

  private start(): void {
    this.started = true;
    if (this.closed) return;
    this.rebuildTimer = setInterval(() => void this.rebuild(), REBUILD_EVERY_MS).unref();
    if (this.postgres) this.listen();
    else void this.rebuild();
  }

  private remember(digests: readonly string[], erased: boolean): void {
    if (erased) {
      this.holdsErased = true;
      this.buildingHoldsErased = true;
    }
    for (const digest of digests) {
      this.filter?.add(digest);
      this.building?.add(digest);
    }
    this.rebuildIfFull();
  }

  private rebuildIfFull(): void {
    if (this.filter && this.filter.entries > this.filter.capacity) void this.rebuild();
  }

  /** Every entry's address, with what is announced while the table is read. */
  private async rebuild(): Promise<void> {
    if (this.rebuilding || this.closed || (this.postgres && !this.listening)) return;
    this.rebuilding = true;
    const generation = this.generation;
    const wasReady = this.filter !== null;
    try {
      const [{ count }] = await this.transactions.read(
        (manager) =>
          manager.query('SELECT COUNT(*) AS count FROM suppression_entry') as Promise<{ count: string }[]>,
      );
      const next = new AddressFilter(Math.max(MIN_CAPACITY, CAPACITY_PER_ENTRY * Number(count)));
      this.building = next;
      this.buildingHoldsErased = false;
      // Read after `building` is set: an entry committed behind the read's position is announced into it.
      for (let after: string | null = null; ;) {
        const rows = await this.page(after);
        for (const { address } of rows) {
          next.add(addressDigest(address));
          if (this.isErased(address)) this.buildingHoldsErased = true;
        }
        if (rows.length < SCAN_PAGE) break;
        after = rows[rows.length - 1].address;
      }
      if (generation !== this.generation) return;
      this.filter = next;
      this.holdsErased = this.buildingHoldsErased;
      this.retryDelayMs = RETRY_MIN_MS;
      if (!wasReady) this.logger.log(`Suppression filter ready: ${next.entries} entries`);
    } catch (error) {
      if (this.closed) return;
      const meanwhile = this.filter ? 'the one built before stays in use' : 'accepts look up every recipient';
      this.logger.warn(`Could not build the suppression filter (${(error as Error).message}); ${meanwhile}`);
      this.retryRebuild();
    } finally {
      this.rebuilding = false;
      this.building = null;
      // Announcements were missed while this build ran: another, from the start.
      if (generation !== this.generation && !this.closed) void this.rebuild();
      // Or it filled up meanwhile (with what was announced during the build).
      else this.rebuildIfFull();
    }
  }

  private page(after: string | null): Promise<{ address: string }[]> {
    const parameters = this.transactions.parameters();
    const where = after === null ? '' : ` WHERE address > ${parameters.add(after)}`;
    const sql = `SELECT address FROM suppression_entry${where} ORDER BY address LIMIT ${parameters.add(SCAN_PAGE)}`;
    return this.transactions.read(
      (manager) => manager.query(sql, parameters.values) as Promise<{ address: string }[]>,
    );
  }

  /** While the connection is down the filter is not used; once it is back, it is built again. */
  private listen(): void {
    this.listener = new ChannelListener(this.transactions, 'mailgateway-suppressions', SUPPRESSION_CHANNEL, {
      notification: (payload) => {
        const items = payload.split(',');
        this.remember(items.filter(isAddressDigest), items.includes(ERASED_MARKER));
      },
      listening: () => {
        this.listening = true;
        void this.rebuild();
      },
      lost: (error) => {
        this.listening = false;
        this.filter = null;
        this.generation += 1;
        this.logger.warn(
          `Suppression announcements lost (${error?.message ?? 'connection ended'}); accepts look up every recipient until the filter is rebuilt`,
        );
      },
    });
    this.listener.start();
  }

  /** After a failed build: again in 0.5 s, doubling to 30 s while builds keep failing. */
  private retryRebuild(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.rebuild(), this.retryDelayMs).unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
  }
}

/** Comma-separated digests (after the erased marker, if any), each payload under PostgreSQL's limit. */
function payloads(digests: readonly string[], erased: boolean): string[] {
  const perPayload = Math.floor(MAX_PAYLOAD_LENGTH / 17) - 1;
  const chunks: string[] = [];
  for (let start = 0; start < digests.length; start += perPayload) {
    const chunk = digests.slice(start, start + perPayload);
    chunks.push((erased ? [ERASED_MARKER, ...chunk] : chunk).join(','));
  }
  return chunks;
}
