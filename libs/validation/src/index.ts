export { ValidationModule } from './validation.module';
export { addressProblem, MailValidator } from './mail-validator';
export type { MailLimits } from './mail-validator';
export { ValidationException } from './validation.exception';
export { validationConfig } from './validation.settings';
export type { ValidationConfig } from './validation.settings';
