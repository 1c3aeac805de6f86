import { Injectable, Logger } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { SourceRoutes } from '@mailgateway/auth';
import { DeliveryConfig, deliveryConfig } from '../delivery.settings';
import type { MailDriver } from '../drivers/mail-driver.interface';
import { MailDriverSet } from './mail-driver-set';

/**
 * Which driver takes an attempt: the source's own chain (its policy's drivers) or the default
 * one, and along it the driver after every FALLBACK_AFTER_FAILURES failed attempts, staying on
 * the last.
 */
@Injectable()
export class DeliveryRoutes {
  private readonly logger = new Logger(DeliveryRoutes.name);
  private readonly warned = new Set<string>();

  constructor(
    readonly drivers: MailDriverSet,
    private readonly sources: SourceRoutes,
    @InjectConfig(deliveryConfig) private readonly config: DeliveryConfig,
  ) {}

  async driverFor(source: string, attempt: number): Promise<MailDriver> {
    const chain = this.chainOf(source, await this.sources.driversFor(source));
    const step = Math.floor((attempt - 1) / this.config.fallbackAfterFailures);
    return chain[Math.min(step, chain.length - 1)];
  }

  /**
   * A chain naming drivers this replica does not run (its settings differ from the replica that
   * accepted the policy) goes on with the ones it does run, or with the default chain.
   */
  private chainOf(source: string, names: readonly string[] | null): readonly MailDriver[] {
    if (!names) return this.drivers.defaultChain;
    const chain = names.flatMap((name) => this.drivers.get(name) ?? []);
    if (chain.length < names.length && !this.warned.has(source)) {
      this.warned.add(source);
      const missing = this.drivers.unknown(names).map(({ name }) => name);
      this.logger.warn(
        `Source "${source}" routes to ${missing.join(', ')}, which this gateway does not run; using ${chain.length > 0 ? 'the rest of its chain' : 'the default chain'}`,
      );
    }
    return chain.length > 0 ? chain : this.drivers.defaultChain;
  }
}
