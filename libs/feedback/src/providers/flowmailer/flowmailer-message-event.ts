/** A Flowmailer MessageEvent as the event API returns it (only the fields the gateway reads). */
export interface FlowmailerMessageEvent {
  readonly id: string;
  /** Flowmailer's id of the message: the driver's provider message id for one recipient. */
  readonly messageId: string;
  /** SOFTBOUNCE, HARDBOUNCE, COMPLAINT, UNSUBSCRIBE, REJECT, DISCARD, DELIVERED, OPENED, ... */
  readonly type: string;
  /** When it happened (ISO 8601). */
  readonly received?: string;
  /** Bounce snippet or SMTP conversation snippet. */
  readonly snippet?: string;
  readonly subType?: string;
  readonly mta?: string;
}

/** What the poller needs of the message an event is about. */
export interface FlowmailerMessage {
  readonly recipientAddress?: string;
  /** The X-Mailgateway-Message-Id the driver submitted, from the message's headersIn. */
  readonly gatewayMessageId?: string;
}

/** One page of the feed and the reference to read the next one from (none when Flowmailer gave none). */
export interface FlowmailerEventPage {
  readonly events: readonly FlowmailerMessageEvent[];
  readonly nextPosition?: string;
}
