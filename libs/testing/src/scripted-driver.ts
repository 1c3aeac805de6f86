import type { DeliveryOutcome, MailDriver, OutboundMessage } from '@mailgateway/delivery';

/** A provider driver whose answers a test writes; it remembers every call it got. */
export class ScriptedDriver implements MailDriver {
  readonly calls: OutboundMessage[] = [];

  constructor(
    private readonly answer: (
      message: OutboundMessage,
      signal: AbortSignal,
    ) => Promise<DeliveryOutcome> | DeliveryOutcome,
    readonly name = 'scripted',
  ) {}

  async send(message: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    this.calls.push(message);
    return this.answer(message, signal);
  }

  callsFor(messageId: string): OutboundMessage[] {
    return this.calls.filter((call) => call.id === messageId);
  }
}
