/** No address of the upstream took the request: it was certainly not sent. Safe to retry. */
export class UpstreamUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = UpstreamUnavailableError.name;
  }
}

/**
 * The connection failed after the request was sent: the upstream may have acted on it. Sending it
 * again may duplicate the message unless the provider deduplicates on an idempotency key.
 */
export class UpstreamOutcomeUnknownError extends Error {
  constructor(message: string) {
    super(message);
    this.name = UpstreamOutcomeUnknownError.name;
  }
}
