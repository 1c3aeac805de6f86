import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** A content key ring that cannot be used: start-up stops on it. Names key ids, never keys. */
export class ContentKeyException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;
}

/** A message sealed under a key the ring does not hold (any more): that message cannot be opened. */
export class ContentKeyMissingException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;

  constructor(readonly keyId: string) {
    super(
      `content key ${keyId} is not in the key ring: the message cannot be opened (restore the key to CONTENT_KEYS or CONTENT_KEYS_DIR)`,
    );
  }
}
