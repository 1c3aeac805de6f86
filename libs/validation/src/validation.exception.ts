import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** A request refused by validation: `field` is the proto path at fault, e.g. `mail.to[2].address`. */
export class ValidationException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;
  declare readonly field: string;

  constructor(field: string, reason: string) {
    super(reason, { field });
  }
}
