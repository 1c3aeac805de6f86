import { ErrorCode, GatewayException } from '@mailgateway/errors';

/** Settings that cannot be used, each problem naming its variable; start-up stops on it. */
export class ConfigurationException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;

  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}
