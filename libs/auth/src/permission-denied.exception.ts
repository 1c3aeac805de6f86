import { ErrorCode, GatewayException, GatewayExceptionOptions } from '@mailgateway/errors';

/** The caller is known but may not do this: it lacks the role, or its policy forbids it. */
export class PermissionDeniedException extends GatewayException {
  readonly code = ErrorCode.PermissionDenied;

  constructor(reason: string, options?: GatewayExceptionOptions) {
    super(reason, options);
  }
}
