import type { Type } from '@nestjs/common';
import type { ConfigSlice } from '@mailgateway/config';
import type { MailDriver } from '../mail-driver.interface';

/**
 * A provider driver as the gateway knows it: the name MAIL_DRIVER selects, the class (built by
 * DI, so it may inject its settings and UpstreamRegistry), and its own settings, if it has any.
 */
export interface DriverDefinition {
  readonly name: string;
  readonly driver: Type<MailDriver>;
  readonly config?: ConfigSlice;
}
