import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** The database is down, restarting, full or refusing connections: retry with backoff. */
export class StorageUnavailableException extends GatewayException {
  readonly code = ErrorCode.Unavailable;

  constructor(cause: unknown) {
    super('storage is unavailable; retry with backoff', { cause });
  }
}
