import pino, { Logger, LevelWithSilent } from 'pino';
import { bufferedStdout } from './buffered-stdout';
import { REDACTED, REDACTED_KEYS, redactOneLevelDown, scrubSecrets } from './redaction';

export type GatewayLogger = Logger;

/** The settings' level names (Nest's) to pino's. */
const PINO_LEVEL: Record<string, LevelWithSilent> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

const ERROR_LEVEL = pino.levels.values.error;

/**
 * JSON lines on stdout, in batches that are written at exit (see bufferedStdout); a line at error
 * or above is written at once, so it survives even a SIGKILL right after it. Redaction works on
 * keys; messages and errors are scrubbed as text as well.
 */
export function createGatewayLogger(
  level: string,
  destination: pino.DestinationStream = bufferedStdout(),
): GatewayLogger {
  const writeNow =
    'flush' in destination && typeof destination.flush === 'function' ? destination.flush : undefined;
  const logger = pino(
    {
      level: PINO_LEVEL[level] ?? 'info',
      base: { service: 'mailgateway', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactOneLevelDown },
      // The top level of fields, child bindings and interpolated objects.
      redact: { paths: REDACTED_KEYS, censor: REDACTED },
      serializers: {
        err: (error: unknown) => {
          const serialized = pino.stdSerializers.err(error as Error);
          return {
            type: serialized.type,
            message: scrubSecrets(serialized.message ?? ''),
            stack: serialized.stack ? scrubSecrets(serialized.stack) : undefined,
            code: (error as { code?: unknown })?.code,
          };
        },
      },
      hooks: {
        logMethod(args, method, levelValue) {
          // Objects after the message are interpolated into it (%o, %j): their fields too.
          const scrubbed = args.map((arg, index) =>
            typeof arg === 'string'
              ? scrubSecrets(arg)
              : index > 0 && typeof arg === 'object' && arg !== null
                ? redactOneLevelDown(arg)
                : arg,
          );
          method.apply(this, scrubbed as Parameters<typeof method>);
          if (levelValue >= ERROR_LEVEL) writeNow?.call(destination);
        },
      },
    },
    destination,
  );
  // Child bindings skip formatters.log; pino's redact covers only their top level.
  const child = logger.child;
  logger.child = function (this: GatewayLogger, bindings, options) {
    return child.call(this, redactOneLevelDown(bindings), options);
  } as typeof child;
  return logger;
}
