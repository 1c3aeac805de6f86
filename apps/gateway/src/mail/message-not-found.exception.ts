import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** GetMessage found nothing the caller may see: absent and foreign ids look exactly alike. */
export class MessageNotFoundException extends GatewayException {
  readonly code = ErrorCode.NotFound;

  constructor() {
    super('message not found');
  }
}
