import { flowmailer } from './flowmailer';
import { http } from './http';
import type { DriverDefinition } from './kit';
import { postmark } from './postmark';
import { sandbox } from './sandbox';
import { sendgrid } from './sendgrid';
import { smtp } from './smtp';

/**
 * Every driver MAIL_DRIVER (and FALLBACK_MAIL_DRIVER) can select. A new provider is a folder
 * beside these, holding its driver, its settings and its spec, plus one entry here.
 */
export const MAIL_DRIVERS: readonly DriverDefinition[] = [
  sandbox,
  http,
  sendgrid,
  postmark,
  flowmailer,
  smtp,
];

/** The driver named `name`, or undefined. */
export function findDriver(name: string): DriverDefinition | undefined {
  return MAIL_DRIVERS.find((definition) => definition.name === name);
}
