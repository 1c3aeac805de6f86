import type { OnModuleDestroy } from '@nestjs/common';
import type { MailDriver } from '../drivers/mail-driver.interface';

/**
 * The drivers this gateway runs, by name: MAIL_DRIVER, FALLBACK_MAIL_DRIVER and
 * EXTRA_MAIL_DRIVERS. The default chain is MAIL_DRIVER, then the fallback when there is one.
 */
export class MailDriverSet implements OnModuleDestroy {
  private readonly byName = new Map<string, MailDriver>();
  readonly defaultChain: readonly MailDriver[];

  constructor(
    primary: MailDriver,
    fallback: MailDriver | null,
    private readonly extras: readonly MailDriver[],
  ) {
    this.defaultChain = fallback ? [primary, fallback] : [primary];
    for (const driver of [...this.defaultChain, ...extras]) {
      if (!this.byName.has(driver.name)) this.byName.set(driver.name, driver);
    }
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get(name: string): MailDriver | undefined {
    return this.byName.get(name);
  }

  /**
   * The extra drivers are built outside DI's lifecycle (ModuleRef.create), so their connections
   * are closed here; MAIL_DRIVER and FALLBACK_MAIL_DRIVER are providers and closed by DI.
   */
  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.extras.map((driver) => (driver as Partial<OnModuleDestroy>).onModuleDestroy?.()));
  }

  /** The names this gateway does not run, each with its index in `names`. */
  unknown(names: readonly string[]): { index: number; name: string }[] {
    return names.flatMap((name, index) => (this.byName.has(name) ? [] : [{ index, name }]));
  }
}
