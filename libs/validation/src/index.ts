export { MailValidator } from './mail-validator';
export type { MailLimits } from './mail-validator';
export { ValidationException } from './validation.exception';
