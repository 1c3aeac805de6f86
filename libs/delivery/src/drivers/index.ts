import type { Type } from '@nestjs/common';
import { FlowmailerDriver } from './flowmailer/flowmailer.driver';
import { HttpDriver } from './http/http.driver';
import type { MailDriver } from './mail-driver.interface';
import { PostmarkDriver } from './postmark/postmark.driver';
import { SandboxDriver } from './sandbox/sandbox.driver';
import { SendgridDriver } from './sendgrid/sendgrid.driver';

/** Drivers by the name MAIL_DRIVER selects. A new provider is a folder beside sandbox/ and a line here. */
export const MAIL_DRIVERS: Readonly<Record<string, Type<MailDriver>>> = {
  sandbox: SandboxDriver,
  http: HttpDriver,
  sendgrid: SendgridDriver,
  postmark: PostmarkDriver,
  flowmailer: FlowmailerDriver,
};

export * from './mail-driver.interface';
export { SandboxDriver } from './sandbox/sandbox.driver';
export type { SandboxRecord } from './sandbox/sandbox.driver';
export { HttpDriver } from './http/http.driver';
export { SendgridDriver } from './sendgrid/sendgrid.driver';
export { PostmarkDriver } from './postmark/postmark.driver';
export { FlowmailerDriver } from './flowmailer/flowmailer.driver';
