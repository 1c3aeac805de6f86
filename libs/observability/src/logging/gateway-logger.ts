import pino, { Logger, LevelWithSilent } from 'pino';
import { REDACTED, REDACTED_PATHS, scrubSecrets } from './redaction';

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

/**
 * JSON lines on stdout, written synchronously so nothing is lost when the process exits at the
 * shutdown deadline. Redaction works on keys; messages and errors are scrubbed as text as well.
 */
export function createGatewayLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: true }),
): GatewayLogger {
  return pino(
    {
      level: PINO_LEVEL[level] ?? 'info',
      base: { service: 'mailgateway', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
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
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubSecrets(arg) : arg));
          return method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
