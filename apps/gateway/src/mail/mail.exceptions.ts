/** GetMessage found nothing the caller may see: absent and foreign ids look exactly alike. */
export class MessageNotFoundException extends Error {
  constructor() {
    super('message not found');
    this.name = MessageNotFoundException.name;
  }
}

/** The idempotency key was used before for a message with other content. */
export class IdempotencyConflictException extends Error {
  constructor() {
    super(
      'idempotency_key: already used for a message with different content; use a new key for a new message',
    );
    this.name = IdempotencyConflictException.name;
  }
}
