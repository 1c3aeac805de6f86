import { MessageEventType, MessageStatus, RecipientState } from '@mailgateway/contracts';
import { aSendMailRequest, DATABASE_KINDS, waitFor } from '@mailgateway/testing';
import { DataSource } from 'typeorm';
import { gatewayForAllTests } from './support/test-gateway';

// The way back inside the real app: a notification stored as intake stores it is applied by the
// processor in the background and shows on GetMessage, recipient by recipient.
describe.each(DATABASE_KINDS)('Provider feedback onto recipients on %s', (kind) => {
  const gateway = gatewayForAllTests(kind, { FEEDBACK_PROCESS_INTERVAL_MS: '20' });

  async function store(feedback: Record<string, unknown>): Promise<void> {
    const now = Date.now();
    await gateway.app.get(DataSource).query(
      `INSERT INTO provider_notification (provider, event_id, feedback, state, attempts, next_attempt_at, received_at)
         VALUES ('sandbox', '${String(feedback.eventId)}', '${JSON.stringify(feedback)}', 'pending', 0, ${now}, ${now})`,
    );
  }

  it("lists each recipient with the state the provider's notifications leave it in", async () => {
    const { messageId } = await gateway.client.sendMail(
      aSendMailRequest({
        to: [{ address: 'Ann@Example.com', name: '' }],
        cc: [{ address: 'bob@example.com', name: '' }],
        bcc: [{ address: 'cy@example.com', name: '' }],
      }),
    );
    const delivered = await gateway.finalState(messageId);
    expect(delivered.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(delivered.recipients.map(({ address, state }) => [address, state])).toEqual([
      ['ann@example.com', RecipientState.RECIPIENT_STATE_SENT],
      ['bob@example.com', RecipientState.RECIPIENT_STATE_SENT],
      ['cy@example.com', RecipientState.RECIPIENT_STATE_SENT],
    ]);

    const about = { provider: 'sandbox', providerMessageId: delivered.providerMessageId, occurredAt: 5_000 };
    await store({
      ...about,
      eventId: 'e-1',
      kind: 'delivered',
      recipient: 'ann@example.com',
      detail: '250 ok',
    });
    await store({
      ...about,
      eventId: 'e-2',
      kind: 'bounce',
      bounceClass: 'soft',
      recipient: 'bob@example.com',
      detail: '452 full',
    });

    const message = await waitFor('both notifications applied', async () => {
      const read = await gateway.client.getMessage({ messageId });
      return read.events.length >= delivered.events.length + 2 ? read : undefined;
    });
    // An unset updated_at (nothing heard about that recipient alone) reaches the client as null.
    expect(
      message.recipients.map(({ address, state, detail, updatedAt }) => [
        address,
        state,
        detail,
        updatedAt ?? null,
      ]),
    ).toEqual([
      ['ann@example.com', RecipientState.RECIPIENT_STATE_DELIVERED, '250 ok', { seconds: 5, nanos: 0 }],
      ['bob@example.com', RecipientState.RECIPIENT_STATE_BOUNCED_SOFT, '452 full', { seconds: 5, nanos: 0 }],
      ['cy@example.com', RecipientState.RECIPIENT_STATE_SENT, '', null],
    ]);
    expect(
      message.events
        .filter(({ recipient }) => recipient !== '')
        .map(({ type, recipient, provider, detail }) => [type, recipient, provider, detail])
        .sort(),
    ).toEqual([
      [MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_BOUNCED, 'bob@example.com', 'sandbox', 'soft: 452 full'],
      [MessageEventType.MESSAGE_EVENT_TYPE_RECIPIENT_DELIVERED, 'ann@example.com', 'sandbox', '250 ok'],
    ]);
  });
});
