import type { DriverDefinition } from '../kit';
import { FlowmailerDriver } from './flowmailer.driver';
import { flowmailerConfig } from './flowmailer.settings';

export const flowmailer: DriverDefinition = {
  name: 'flowmailer',
  driver: FlowmailerDriver,
  config: flowmailerConfig,
};
export { FlowmailerDriver } from './flowmailer.driver';
