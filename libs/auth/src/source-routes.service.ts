import { Injectable, Logger } from '@nestjs/common';
import { splitList } from './auth.service';
import { CredentialRepository } from './credential.repository';

/**
 * How long a replica keeps the sources' driver chains before reading them again: a change made
 * through another replica reaches this one's deliveries within it (this replica's own changes at
 * once).
 */
export const SOURCE_ROUTES_REFRESH_MS = 1_000;

/**
 * The driver chain each source's policy names, for the delivery loop. Read for all sources at
 * once and kept for SOURCE_ROUTES_REFRESH_MS, so a delivery costs no query of its own; when a read
 * fails, the chains last read stay in force.
 */
@Injectable()
export class SourceRoutes {
  private readonly logger = new Logger(SourceRoutes.name);
  private chains: ReadonlyMap<string, readonly string[]> = new Map();
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;
  /** Raised by forget(): a read begun before a change does not count as fresh after it. */
  private generation = 0;

  constructor(private readonly credentials: CredentialRepository) {}

  /** The source's own chain of driver names, or null when it uses the gateway's default. */
  async driversFor(source: string, now = Date.now()): Promise<readonly string[] | null> {
    if (now - this.readAt >= SOURCE_ROUTES_REFRESH_MS) await this.refresh(now);
    return this.chains.get(source) ?? null;
  }

  /** A source changed here: the next delivery reads the chains again. */
  forget(): void {
    this.generation++;
    this.readAt = Number.NEGATIVE_INFINITY;
  }

  /** One read at a time; one begun before the last forget() does not count as fresh. */
  private refresh(now: number): Promise<void> {
    return (this.reading ??= this.read(now));
  }

  private read(now: number): Promise<void> {
    const generation = this.generation;
    return this.credentials
      .listSourceDrivers()
      .then((sources) => {
        this.chains = new Map(sources.map(({ name, drivers }) => [name, splitList(drivers)]));
        if (generation === this.generation) this.readAt = now;
      })
      .catch((error: unknown) => {
        this.logger.warn(
          `Reading the sources' driver chains failed, keeping those last read: ${error instanceof Error ? error.message : String(error)}`,
        );
      })
      .finally(() => {
        this.reading = null;
      });
  }
}
