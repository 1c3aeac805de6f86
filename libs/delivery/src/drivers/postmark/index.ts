import type { DriverDefinition } from '../kit';
import { PostmarkDriver } from './postmark.driver';
import { postmarkConfig } from './postmark.settings';

export const postmark: DriverDefinition = {
  name: 'postmark',
  driver: PostmarkDriver,
  config: postmarkConfig,
};
export { PostmarkDriver } from './postmark.driver';
