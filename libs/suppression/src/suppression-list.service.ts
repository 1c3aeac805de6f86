import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { GroupCommit, runStatement, SqlParameters, TransactionRunner } from '@mailgateway/database';
import { ERASED_ADDRESS_HASH, ErasedAddressHash } from './erased-address-hash';
import { decodePageToken, encodePageToken } from './page-token';
import { RECIPIENT_REASONS, REASON_STRENGTH, reasonStrengthSql } from './reason-strength';
import { ALL_SOURCES, NewSuppression, Suppression, SuppressionReason } from './suppression';
import { SuppressionException, SuppressionProblem } from './suppression.exception';
import { SuppressionFilter } from './suppression-filter';

const TABLE = 'suppression_entry';
const COLUMNS = ['address', 'scope', 'reason', 'origin', 'created_at', 'expires_at'] as const;
const SELECTED = COLUMNS.join(', ');
/** Rows per INSERT: well inside either database's limit on parameters. */
const ROWS_PER_STATEMENT = 1000;
/** The origin column's width. */
const MAX_ORIGIN_CHARS = 1000;

interface SuppressionRow {
  address: string;
  scope: string;
  reason: SuppressionReason;
  origin: string;
  created_at: number | string;
  expires_at: number | string | null;
}

export interface SuppressionQuery {
  /** Only this scope; undefined: every scope. */
  readonly scope?: string;
  /** Only addresses starting with this (lowercased). */
  readonly addressPrefix?: string;
  readonly pageSize: number;
  /** From the previous page; undefined or empty for the first. */
  readonly pageToken?: string;
}

export interface SuppressionPage {
  readonly suppressions: Suppression[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** One sender's question: which of these addresses may it not send to? */
export interface SuppressionLookup {
  readonly source: string;
  readonly addresses: readonly string[];
}

export interface ManualSuppression {
  readonly address: string;
  readonly scope: string;
  /** The note: a ticket number, who asked. */
  readonly origin: string;
  readonly expiresAt: number | null;
}

export interface SuppressionRemoval {
  readonly address: string;
  readonly scope: string;
  readonly force: boolean;
  /** Why it is lifted; needed with force. */
  readonly reason: string;
}

/**
 * The suppression list: addresses not to send to. Read at accept and again when an attempt is due;
 * written by provider feedback (in the feedback's own transaction) and by the admin RPCs. Every
 * read and write leaves expired entries out, as if they were not there.
 */
/** Addresses per lookup statement: well under SQLite's and PostgreSQL's parameter limits. */
const FIND_CHUNK = 1000;
/** Calls' lookups per shared statement (findEach splits their addresses by FIND_CHUNK anyway). */
const SHARED_LOOKUP_GROUP = 500;
/** Two shared statements may overlap, so a caller waits at most for one that is already running. */
const SHARED_LOOKUPS_IN_PARALLEL = 2;

@Injectable()
export class SuppressionList implements OnModuleDestroy {
  private readonly logger = new Logger('SuppressionList');
  /** Spares the accept path a lookup for the recipients surely not listed: nearly all of them. */
  private readonly filter: SuppressionFilter;

  /**
   * Lookups of concurrent calls (SendMail's, one per call) asked while one runs share the next
   * statement: one indexed SELECT for many calls instead of a round trip each.
   */
  private readonly sharedLookups: GroupCommit<SuppressionLookup, Map<string, Suppression>>;

  constructor(
    private readonly transactions: TransactionRunner,
    @Optional() @Inject(ERASED_ADDRESS_HASH) private readonly erasedHash?: ErasedAddressHash,
  ) {
    this.filter = new SuppressionFilter(transactions, (address) => erasedHash?.isHash(address) ?? false);
    this.sharedLookups = new GroupCommit(
      (lookups) => this.findEach(lookups),
      SHARED_LOOKUPS_IN_PARALLEL,
      SHARED_LOOKUP_GROUP,
      'suppression lookup',
    );
  }

  /**
   * `find` outside any transaction, for the accept path: addresses the filter says are surely not
   * listed are not looked up; the rest share a statement with the lookups of other calls made
   * meanwhile. An entry another replica adds counts here once its announcement arrives (at its
   * commit, a few milliseconds on); delivery checks the table itself when an attempt is due.
   */
  async findShared(source: string, addresses: readonly string[]): Promise<Map<string, Suppression>> {
    const maybe = addresses.filter((address) => this.mayBeListed(lowercase(address)));
    if (maybe.length === 0) return new Map();
    const [found] = await this.sharedLookups.submit([{ source, addresses: maybe }]);
    return found;
  }

  /** Whether `findShared` asks only about the recipients the filter may hold (else about every one). */
  get filterReady(): boolean {
    return this.filter.ready;
  }

  async onModuleDestroy(): Promise<void> {
    await this.filter.close();
  }

  /**
   * The entries that stop `source` from sending to any of `addresses`, one per address (keyed by
   * the lowercased address, which the entry names even when it is kept as the hash of an erased
   * address): the source's own before ALL_SOURCES; expired entries do not count.
   */
  async find(
    source: string,
    addresses: readonly string[],
    manager?: EntityManager,
    now = Date.now(),
  ): Promise<Map<string, Suppression>> {
    const [found] = await this.findEach([{ source, addresses }], manager, now);
    return found;
  }

  /**
   * `find` for many lookups at once (the recipients of each message of a claimed batch), answered
   * in the order asked. One indexed statement per FIND_CHUNK distinct addresses of them all, each
   * asked for as itself and as its hash (a batch may name thousands, more than a statement takes
   * parameters).
   */
  async findEach(
    lookups: readonly SuppressionLookup[],
    manager?: EntityManager,
    now = Date.now(),
  ): Promise<Map<string, Suppression>[]> {
    const wanted = [...new Set(lookups.flatMap(({ addresses }) => addresses.map(lowercase)))];
    const sources = [...new Set(lookups.map(({ source }) => source))];
    /** Entries by address, then by scope. */
    const entries = new Map<string, Map<string, Suppression>>();
    for (let start = 0; start < wanted.length; start += FIND_CHUNK) {
      const chunk = wanted.slice(start, start + FIND_CHUNK);
      // An erased address's entries stand as its hash: the hash finds them, and answers for the address.
      const askedFor = new Map(chunk.map((address) => [address, address]));
      if (this.erasedHash) for (const address of chunk) askedFor.set(this.erasedHash.hash(address), address);
      const parameters = this.transactions.parameters();
      const sql =
        `SELECT ${SELECTED} FROM ${TABLE}` +
        ` WHERE address IN (${[...askedFor.keys()].map((address) => parameters.add(address)).join(', ')})` +
        ` AND scope IN (${[ALL_SOURCES, ...sources].map((scope) => parameters.add(scope)).join(', ')})` +
        ` AND ${notExpired(parameters, now)}`;
      const query = (on: EntityManager) => on.query(sql, parameters.values) as Promise<SuppressionRow[]>;
      const rows = manager ? await query(manager) : await this.transactions.read(query);
      for (const row of rows) {
        const address = askedFor.get(row.address) ?? row.address;
        const byScope = entries.get(address) ?? new Map<string, Suppression>();
        entries.set(address, byScope.set(row.scope, { ...toSuppression(row), address }));
      }
    }
    return lookups.map(({ source, addresses }) => {
      const found = new Map<string, Suppression>();
      for (const address of addresses.map(lowercase)) {
        const byScope = entries.get(address);
        const entry = byScope?.get(source) ?? byScope?.get(ALL_SOURCES);
        if (entry) found.set(address, entry);
      }
      return found;
    });
  }

  /**
   * Adds entries in the caller's transaction. An address already suppressed in that scope keeps
   * its entry (origin too), unless the new reason is stronger (complaint > unsubscribe > hard
   * bounce > the rest) or the entry has expired. Returns the entries that were added or
   * strengthened. Replicas adding the same address at once meet in ON CONFLICT, never in an error.
   */
  async add(
    manager: EntityManager,
    entries: readonly NewSuppression[],
    now = Date.now(),
  ): Promise<Suppression[]> {
    const strongest = new Map<string, NewSuppression>();
    for (const entry of entries) {
      const address = entry.address.toLowerCase();
      const key = JSON.stringify([address, entry.scope]);
      const held = strongest.get(key);
      // One statement may not touch a row twice; of repeats within the call the strongest counts.
      if (!held || REASON_STRENGTH[entry.reason] > REASON_STRENGTH[held.reason]) {
        // The origin only explains the entry: a long provider event id must not fail the feedback's transaction.
        strongest.set(key, { ...entry, address, origin: entry.origin.slice(0, MAX_ORIGIN_CHARS) });
      }
    }
    const unique = [...strongest.values()];
    const added: Suppression[] = [];
    for (let start = 0; start < unique.length; start += ROWS_PER_STATEMENT) {
      const chunk = unique.slice(start, start + ROWS_PER_STATEMENT);
      const parameters = this.transactions.parameters();
      const values = chunk.map(
        ({ address, scope, reason, origin, expiresAt }) =>
          `(${[address, scope, reason, origin, now, expiresAt].map((value) => parameters.add(value)).join(', ')})`,
      );
      const sql =
        `INSERT INTO ${TABLE} (${SELECTED}) VALUES ${values.join(', ')}` +
        ` ON CONFLICT (address, scope) DO UPDATE SET reason = excluded.reason, origin = excluded.origin,` +
        ` created_at = excluded.created_at, expires_at = excluded.expires_at` +
        ` WHERE ${expired(`${TABLE}.expires_at`, parameters, now)}` +
        ` OR ${reasonStrengthSql('excluded.reason')} > ${reasonStrengthSql(`${TABLE}.reason`)}` +
        ` RETURNING ${SELECTED}`;
      const rows = await runStatement<SuppressionRow>(manager, sql, parameters.values);
      await this.filter.announce(
        manager,
        rows.map((row) => row.address),
      );
      added.push(...rows.map(toSuppression));
    }
    return added;
  }

  /** A page of entries in (address, scope) order, after the position in `pageToken`. */
  async list(query: SuppressionQuery, now = Date.now()): Promise<SuppressionPage> {
    const parameters = this.transactions.parameters();
    const conditions = [notExpired(parameters, now)];
    if (query.scope !== undefined) conditions.push(`scope = ${parameters.add(query.scope)}`);
    if (query.addressPrefix) {
      const prefix = query.addressPrefix.toLowerCase();
      // substr counts characters on both databases, as a spread string does in JS.
      conditions.push(`substr(address, 1, ${[...prefix].length}) = ${parameters.add(prefix)}`);
    }
    if (query.pageToken) {
      const after = decodePageToken(query.pageToken);
      const address = parameters.add(after.address);
      conditions.push(
        `(address > ${address} OR (address = ${parameters.add(after.address)} AND scope > ${parameters.add(after.scope)}))`,
      );
    }
    const sql =
      `SELECT ${SELECTED} FROM ${TABLE} WHERE ${conditions.join(' AND ')}` +
      ` ORDER BY address, scope LIMIT ${parameters.add(query.pageSize + 1)}`;
    const rows = await this.transactions.read(
      (manager) => manager.query(sql, parameters.values) as Promise<SuppressionRow[]>,
    );
    const suppressions = rows.slice(0, query.pageSize).map(toSuppression);
    const last = suppressions.at(-1);
    return {
      suppressions,
      nextPageToken: rows.length > query.pageSize && last ? encodePageToken(last) : '',
    };
  }

  /**
   * Puts an address on the list with reason MANUAL, or replaces the note and expiry of a manual
   * entry already there (keeping when it was added). ALREADY_EXISTS when the address is suppressed
   * in that scope for another reason: that entry is left as it is.
   */
  async addManual(entry: ManualSuppression, now = Date.now()): Promise<Suppression> {
    const address = entry.address.toLowerCase();
    return this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      const values = [address, entry.scope, SuppressionReason.Manual, entry.origin, now, entry.expiresAt];
      // Placeholders are added in the order they appear: SQLite's "?" are positional.
      const sql =
        `INSERT INTO ${TABLE} (${SELECTED}) VALUES (${values.map((value) => parameters.add(value)).join(', ')})` +
        ` ON CONFLICT (address, scope) DO UPDATE SET reason = excluded.reason, origin = excluded.origin,` +
        ` expires_at = excluded.expires_at,` +
        ` created_at = CASE WHEN ${expired(`${TABLE}.expires_at`, parameters, now)}` +
        ` THEN excluded.created_at ELSE ${TABLE}.created_at END` +
        ` WHERE ${TABLE}.reason = ${parameters.add(SuppressionReason.Manual)}` +
        ` OR ${expired(`${TABLE}.expires_at`, parameters, now)}` +
        ` RETURNING ${SELECTED}`;
      const [row] = await runStatement<SuppressionRow>(manager, sql, parameters.values);
      if (row) {
        await this.filter.announce(manager, [row.address]);
        return toSuppression(row);
      }
      const held = await this.entry(manager, address, entry.scope, now);
      throw new SuppressionException(
        SuppressionProblem.SuppressedForAnotherReason,
        `the address is already suppressed in scope "${entry.scope}" (${held?.reason ?? 'another reason'}); remove that entry first`,
      );
    });
  }

  /**
   * Lifts an entry and returns it as it was (an erased address's as its hash). A complaint or an
   * unsubscribe needs force and a reason. The removal is logged with a short hash of the address, never the address.
   */
  async remove(removal: SuppressionRemoval, now = Date.now()): Promise<Suppression> {
    const address = removal.address.toLowerCase();
    const removed = await this.transactions.run(async (manager) => {
      // An erased address's entry stands as its hash, and is lifted by the address all the same.
      const held =
        (await this.entry(manager, address, removal.scope, now, { lock: true })) ??
        (this.erasedHash
          ? await this.entry(manager, this.erasedHash.hash(address), removal.scope, now, { lock: true })
          : null);
      if (!held) {
        throw new SuppressionException(
          SuppressionProblem.EntryNotFound,
          `the address is not suppressed in scope "${removal.scope}"`,
        );
      }
      if (RECIPIENT_REASONS.has(held.reason) && !(removal.force && removal.reason.trim() !== '')) {
        throw new SuppressionException(
          SuppressionProblem.ForceRequired,
          `the entry is a ${held.reason}: the recipient asked not to get mail, so lifting it needs force and a reason`,
        );
      }
      const parameters = this.transactions.parameters();
      await manager.query(
        `DELETE FROM ${TABLE} WHERE address = ${parameters.add(held.address)} AND scope = ${parameters.add(removal.scope)}`,
        parameters.values,
      );
      return held;
    });
    const why = removal.reason.trim() === '' ? '' : `: ${JSON.stringify(removal.reason)}`;
    this.logger.log(
      `Lifted suppression of address sha256:${addressHash(address)} in scope "${removed.scope}" ` +
        `(was ${removed.reason}${removal.force ? ', forced' : ''})${why}`,
    );
    return removed;
  }

  /**
   * Erasure, in the caller's transaction: every entry of `address` still in force is kept as
   * `hash` instead (reason, scope, expiry and when it was added unchanged; the origin note through
   * `redactOrigin`, as it may name the address), so it goes on suppressing the address; lapsed
   * entries are dropped. Where the hash already has an entry in a scope (an earlier erasure), the
   * stronger reason stays, as add() decides. Returns how many entries were kept, one per scope.
   */
  async keepAsHash(
    manager: EntityManager,
    address: string,
    hash: string,
    redactOrigin: (origin: string) => string,
    now = Date.now(),
  ): Promise<number> {
    const lowercased = address.toLowerCase();
    const select = this.transactions.parameters();
    const forUpdate = this.transactions.dialect === 'postgres' ? ' ORDER BY scope FOR UPDATE' : '';
    const held = await runStatement<SuppressionRow>(
      manager,
      `SELECT ${SELECTED} FROM ${TABLE} WHERE address = ${select.add(lowercased)}${forUpdate}`,
      select.values,
    );
    const live = held.filter((row) => row.expires_at === null || Number(row.expires_at) > now);
    if (live.length > 0) await this.filter.announce(manager, [hash]);
    for (const row of live) {
      const parameters = this.transactions.parameters();
      const values = [hash, row.scope, row.reason, redactOrigin(row.origin).slice(0, MAX_ORIGIN_CHARS)]
        .map((value) => parameters.add(value))
        .join(', ');
      await runStatement(
        manager,
        `INSERT INTO ${TABLE} (${SELECTED})` +
          ` VALUES (${values}, ${parameters.add(Number(row.created_at))}, ${parameters.add(row.expires_at === null ? null : Number(row.expires_at))})` +
          ` ON CONFLICT (address, scope) DO UPDATE SET reason = excluded.reason, origin = excluded.origin,` +
          ` created_at = excluded.created_at, expires_at = excluded.expires_at` +
          ` WHERE ${expired(`${TABLE}.expires_at`, parameters, now)}` +
          ` OR ${reasonStrengthSql('excluded.reason')} > ${reasonStrengthSql(`${TABLE}.reason`)}`,
        parameters.values,
      );
    }
    if (held.length > 0) {
      const parameters = this.transactions.parameters();
      await runStatement(
        manager,
        `DELETE FROM ${TABLE} WHERE address = ${parameters.add(lowercased)}`,
        parameters.values,
      );
    }
    return live.length;
  }

  /** Whether a lowercased address, or the hash an erased address is kept as, may have an entry. */
  private mayBeListed(address: string): boolean {
    if (this.filter.mayContain(address)) return true;
    // The keyed hash costs an HMAC per recipient: worked out only while such entries may exist.
    if (!this.erasedHash || !this.filter.mayHoldErased) return false;
    return this.filter.mayContain(this.erasedHash.hash(address));
  }

  /** The entry of one address in one scope, unless expired; locked for the transaction on request. */
  private async entry(
    manager: EntityManager,
    address: string,
    scope: string,
    now: number,
    { lock = false } = {},
  ): Promise<Suppression | null> {
    const parameters = this.transactions.parameters();
    // SQLite runs one transaction at a time and has no row locks.
    const forUpdate = lock && this.transactions.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const rows = (await manager.query(
      `SELECT ${SELECTED} FROM ${TABLE} WHERE address = ${parameters.add(address)}` +
        ` AND scope = ${parameters.add(scope)} AND ${notExpired(parameters, now)}${forUpdate}`,
      parameters.values,
    )) as SuppressionRow[];
    return rows[0] ? toSuppression(rows[0]) : null;
  }
}

function notExpired(parameters: SqlParameters, now: number): string {
  return `(expires_at IS NULL OR expires_at > ${parameters.add(now)})`;
}

function expired(column: string, parameters: SqlParameters, now: number): string {
  return `(${column} IS NOT NULL AND ${column} <= ${parameters.add(now)})`;
}

function toSuppression(row: SuppressionRow): Suppression {
  return {
    address: row.address,
    scope: row.scope,
    reason: row.reason,
    origin: row.origin,
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}

/** Enough of the address's SHA-256 to follow one address through the logs, not to recover it. */
function addressHash(address: string): string {
  return createHash('sha256').update(address).digest('hex').slice(0, 12);
}

function lowercase(address: string): string {
  return address.toLowerCase();
}
