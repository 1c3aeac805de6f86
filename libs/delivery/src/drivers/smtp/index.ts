import type { DriverDefinition } from '../kit';
import { SmtpDriver } from './smtp.driver';
import { smtpConfig } from './smtp.settings';

export const smtp: DriverDefinition = {
  name: 'smtp',
  driver: SmtpDriver,
  config: smtpConfig,
};
export { SmtpDriver } from './smtp.driver';
