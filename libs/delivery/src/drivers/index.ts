import type { Type } from '@nestjs/common';
import type { MailDriver } from './mail-driver.interface';
import { SandboxDriver } from './sandbox/sandbox.driver';

/** Drivers by the name MAIL_DRIVER selects. A new provider is a folder beside sandbox/ and a line here. */
export const MAIL_DRIVERS: Readonly<Record<string, Type<MailDriver>>> = {
  sandbox: SandboxDriver,
};

export * from './mail-driver.interface';
export { SandboxDriver } from './sandbox/sandbox.driver';
export type { SandboxRecord } from './sandbox/sandbox.driver';
