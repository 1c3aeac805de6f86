/** What SendMail does with a recipient on the suppression list, per source. */
export enum SuppressedRecipientsMode {
  /** Leave the recipient out and accept the message for the others (the default). */
  Drop = 'drop',
  /** Refuse the whole message with FAILED_PRECONDITION. */
  Refuse = 'refuse',
}

export function isSuppressedRecipientsMode(value: unknown): value is SuppressedRecipientsMode {
  return Object.values(SuppressedRecipientsMode).includes(value as SuppressedRecipientsMode);
}
