import { ErrorCode } from './error-code';

export interface GatewayExceptionOptions {
  /** The request field at fault, as a proto path (`mail.to[2].address`); it prefixes the message. */
  readonly field?: string;
  /** When the caller may try again, in milliseconds (for ResourceExhausted). */
  readonly retryAfterMs?: number;
  /** The lower-level error this one stands for; logged, never shown to callers. */
  readonly cause?: unknown;
}

/**
 * The root of every error the gateway raises on purpose. Each library extends it with errors of
 * its own and a code saying what kind of fault it is; the gRPC edge maps the code, once. Anything
 * thrown that is not a GatewayException is a bug, and reaches callers as INTERNAL with an error id.
 */
export abstract class GatewayException extends Error {
  abstract readonly code: ErrorCode;
  readonly field?: string;
  /** The message without the field: what is wrong with it. */
  readonly reason: string;
  readonly retryAfterMs?: number;

  constructor(reason: string, { field, retryAfterMs, cause }: GatewayExceptionOptions = {}) {
    super(field ? `${field}: ${reason}` : reason, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.reason = reason;
    this.field = field;
    this.retryAfterMs = retryAfterMs;
  }
}
