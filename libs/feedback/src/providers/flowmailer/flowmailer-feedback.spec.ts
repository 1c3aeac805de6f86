// Event types from Flowmailer's SDK (flowmailer/flowmailer-php-sdk src/Enum/EventType.php).
import { flowmailerFeedback, isFeedbackEvent } from './flowmailer-feedback';
import type { FlowmailerMessageEvent } from './flowmailer-message-event';

const event = (overrides: Partial<FlowmailerMessageEvent> = {}): FlowmailerMessageEvent => ({
  id: 'e1',
  messageId: 'fm-1',
  type: 'HARDBOUNCE',
  received: '2026-12-01T11:00:00.000Z',
  ...overrides,
});
const message = {
  recipientAddress: 'Ada@Example.org',
  gatewayMessageId: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90',
};

describe('Flowmailer events as feedback', () => {
  it.each([
    ['DELIVERED', { kind: 'delivered' }],
    ['HARDBOUNCE', { kind: 'bounce', bounceClass: 'hard' }],
    ['SOFTBOUNCE', { kind: 'bounce', bounceClass: 'soft' }],
    ['COMPLAINT', { kind: 'complaint' }],
    ['UNSUBSCRIBE', { kind: 'unsubscribe' }],
    ['REJECT', { kind: 'dropped' }],
    ['DISCARD', { kind: 'dropped' }],
  ])('reads %s as %o', (type, expected) => {
    expect(flowmailerFeedback(event({ type }), message, 0)).toMatchObject({
      provider: 'flowmailer',
      eventId: 'e1',
      recipient: 'ada@example.org',
      providerMessageId: 'fm-1',
      gatewayMessageId: '0b6e4a52-9d2f-4c55-a0c4-3c1f7d1e2a90',
      occurredAt: Date.parse('2026-12-01T11:00:00.000Z'),
      ...expected,
    });
  });

  it.each(['OPENED', 'CLICKED', 'SUBMITTED', 'PROCESSED', 'ATTEMPT', 'CUSTOM'])(
    'gives no feedback for %s',
    (type) => {
      expect(isFeedbackEvent(event({ type }))).toBe(false);
      expect(flowmailerFeedback(event({ type }), message, 0)).toBeUndefined();
    },
  );

  it('reads a hard bounce with a 5.7.x status as undetermined, and keeps its words', () => {
    expect(
      flowmailerFeedback(event({ subType: 'policy', snippet: '550 5.7.1 rejected by policy' }), message, 0),
    ).toMatchObject({
      kind: 'bounce',
      bounceClass: 'undetermined',
      detail: 'Flowmailer HARDBOUNCE: policy: 550 5.7.1 rejected by policy',
    });
  });

  it('gives nothing without the recipient, and the read time without an event time', () => {
    expect(flowmailerFeedback(event(), {}, 0)).toBeUndefined();
    expect(flowmailerFeedback(event({ received: undefined }), message, 1234)).toMatchObject({
      occurredAt: 1234,
    });
  });
});
