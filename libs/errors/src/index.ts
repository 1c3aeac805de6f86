export { ErrorCode } from './error-code';
export { GatewayException } from './gateway.exception';
export type { GatewayExceptionOptions } from './gateway.exception';
