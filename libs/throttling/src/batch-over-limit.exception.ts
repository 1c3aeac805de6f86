import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** One call carries more messages than a whole window allows: waiting would not help. */
export class BatchOverLimitException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;

  constructor(count: number, limitName: string, limit: number) {
    super(`${count} messages in one call; limit "${limitName}" allows ${limit} per window`, {
      field: 'items',
    });
  }
}
