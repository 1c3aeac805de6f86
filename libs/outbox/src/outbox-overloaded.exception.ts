/** More messages wait for an outbox commit than OUTBOX_MAX_QUEUED_MESSAGES allows: try again shortly. */
export class OutboxOverloadedException extends Error {
  constructor(
    readonly queued: number,
    readonly retryAfterMs: number,
  ) {
    super(`the gateway is overloaded (${queued} messages wait for a commit); retry after ${retryAfterMs} ms`);
    this.name = OutboxOverloadedException.name;
  }
}
