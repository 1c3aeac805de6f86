import type { DriverDefinition } from '../kit';
import { SendgridDriver } from './sendgrid.driver';
import { sendgridConfig } from './sendgrid.settings';

export const sendgrid: DriverDefinition = {
  name: 'sendgrid',
  driver: SendgridDriver,
  config: sendgridConfig,
};
export { SendgridDriver } from './sendgrid.driver';
