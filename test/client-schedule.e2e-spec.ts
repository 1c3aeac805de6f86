import { ServiceError, status } from '@grpc/grpc-js';
import {
  GetMessageResponse,
  isAlreadyCancelled,
  MailGatewayClient,
  MessageEventType,
  MessageStatus,
  Timestamp,
} from '@mailgateway/client';
import { aMail, DATABASE_KINDS, TEST_API_KEY } from '@mailgateway/testing';
import { AnswerDroppingProxy } from './support/answer-dropping-proxy';
import { gatewayForAllTests } from './support/test-gateway';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

const epochMs = (time: Timestamp | undefined) => (time ? time.seconds * 1000 + time.nanos / 1e6 : undefined);
const eventTypes = (message: GetMessageResponse): MessageEventType[] =>
  message.events.map(({ type }) => type);
/** A time `ms` from now. */
const later = (ms: number) => new Date(Date.now() + ms);

async function refusal(call: Promise<unknown>): Promise<ServiceError> {
  const error = (await call.then(
    () => undefined,
    (caught: unknown) => caught,
  )) as ServiceError | undefined;
  if (!error) throw new Error('expected the call to be refused');
  return error;
}

describe.each(DATABASE_KINDS)(
  'Scheduled send, cancel and reschedule through @mailgateway/client on %s',
  (kind) => {
    const gateway = gatewayForAllTests(kind);
    let client: MailGatewayClient;

    beforeAll(() => {
      client = gateway.client;
    });

    it('sends at a later time: the message waits SCHEDULED with its send time, and nothing is attempted', async () => {
      const sendAt = later(HOUR_MS);
      const { messageId } = await client.send(aMail(), { sendAt });

      const message = await client.getMessage({ messageId });
      expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_SCHEDULED);
      expect(epochMs(message.sendAt)).toBe(sendAt.getTime());
      expect(message.attempts).toBe(0);
      expect(eventTypes(message)).toEqual([MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED]);
    });

    it('takes the send time as epoch ms as well, and a time in the past sends at once', async () => {
      const sendAt = Date.now() + HOUR_MS;
      const scheduled = await client.send(aMail(), { sendAt });
      expect(epochMs((await client.getMessage({ messageId: scheduled.messageId })).sendAt)).toBe(sendAt);

      const past = await client.send(aMail(), { sendAt: Date.now() - 60_000 });
      expect((await gateway.finalState(past.messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    });

    it('refuses a send time beyond SCHEDULE_MAX_AHEAD_MS with INVALID_ARGUMENT naming send_at', async () => {
      const error = await refusal(client.send(aMail(), { sendAt: later(31 * DAY_MS) }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^send_at: /);
    });

    it('reschedules a scheduled message to a later time, then to now, which delivers it', async () => {
      const { messageId } = await client.send(aMail(), { sendAt: later(HOUR_MS) });

      const moved = later(2 * HOUR_MS);
      const rescheduled = await client.rescheduleMessage(messageId, moved);
      expect(rescheduled).toEqual({
        messageId,
        status: MessageStatus.MESSAGE_STATUS_SCHEDULED,
        sendAt: { seconds: Math.floor(moved.getTime() / 1000), nanos: (moved.getTime() % 1000) * 1e6 },
      });
      expect(epochMs((await client.getMessage({ messageId })).sendAt)).toBe(moved.getTime());

      const now = Date.now();
      const due = await client.rescheduleMessage(messageId, now);
      expect(due.status).toBe(MessageStatus.MESSAGE_STATUS_QUEUED);
      const delivered = await gateway.finalState(messageId);
      expect(delivered.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
      expect(epochMs(delivered.sendAt)).toBe(now);
      expect(eventTypes(delivered)).toEqual([
        MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
        MessageEventType.MESSAGE_EVENT_TYPE_RESCHEDULED,
        MessageEventType.MESSAGE_EVENT_TYPE_RESCHEDULED,
        MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
        MessageEventType.MESSAGE_EVENT_TYPE_DELIVERED,
      ]);
    });

    it('cancels a scheduled message for good; a second cancel is refused as already CANCELLED', async () => {
      const { messageId } = await client.send(aMail(), { sendAt: later(HOUR_MS) });

      const before = Date.now();
      const cancelled = await client.cancelMessage(messageId);
      expect(cancelled.messageId).toBe(messageId);
      expect(epochMs(cancelled.cancelledAt)).toBeGreaterThanOrEqual(before - 1);

      const message = await client.getMessage({ messageId });
      expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
      expect(message.attempts).toBe(0);
      expect(eventTypes(message)).toEqual([
        MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
        MessageEventType.MESSAGE_EVENT_TYPE_CANCELLED,
      ]);

      const again = await refusal(client.cancelMessage(messageId));
      expect(again.code).toBe(status.FAILED_PRECONDITION);
      expect(again.details).toBe('the message is already CANCELLED');
      expect(isAlreadyCancelled(again)).toBe(true);
      const reschedule = await refusal(client.rescheduleMessage(messageId, later(HOUR_MS)));
      expect(reschedule.code).toBe(status.FAILED_PRECONDITION);
      expect(reschedule.details).toBe('the message is already CANCELLED');
    });

    it('refuses to cancel or reschedule a delivered message, naming its status, and an unknown id as NOT_FOUND', async () => {
      const { messageId } = await client.send(aMail());
      await gateway.finalState(messageId);

      const cancel = await refusal(client.cancelMessage(messageId));
      expect([cancel.code, cancel.details]).toEqual([
        status.FAILED_PRECONDITION,
        'the message is already DELIVERED',
      ]);
      expect(isAlreadyCancelled(cancel)).toBe(false);
      const reschedule = await refusal(client.rescheduleMessage(messageId, later(HOUR_MS)));
      expect([reschedule.code, reschedule.details]).toEqual([
        status.FAILED_PRECONDITION,
        'the message is already DELIVERED',
      ]);
      expect((await refusal(client.cancelMessage(UNKNOWN_ID))).code).toBe(status.NOT_FOUND);
      expect((await refusal(client.rescheduleMessage(UNKNOWN_ID, Date.now()))).code).toBe(status.NOT_FOUND);
    });

    it('cancels several messages in one call, answering each id in request order', async () => {
      const first = await client.send(aMail(), { sendAt: later(HOUR_MS) });
      const second = await client.send(aMail(), { sendAt: later(HOUR_MS) });
      const delivered = await client.send(aMail());
      await gateway.finalState(delivered.messageId);

      const { results } = await client.cancelMessages([
        first.messageId,
        delivered.messageId,
        UNKNOWN_ID,
        'not-a-uuid',
        second.messageId,
      ]);

      expect(results.map(({ messageId }) => messageId)).toEqual([
        first.messageId,
        delivered.messageId,
        UNKNOWN_ID,
        'not-a-uuid',
        second.messageId,
      ]);
      expect(results[0].cancelled?.messageId).toBe(first.messageId);
      expect(results[1].rejected).toEqual({
        code: 'FAILED_PRECONDITION',
        field: 'message_ids[1]',
        reason: 'the message is already DELIVERED',
      });
      expect(results[2].rejected).toMatchObject({ code: 'NOT_FOUND', field: 'message_ids[2]' });
      expect(results[3].rejected).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'message_ids[3]' });
      expect(results[4].cancelled?.messageId).toBe(second.messageId);
      for (const { messageId } of [first, second]) {
        expect((await client.getMessage({ messageId })).status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
      }

      const again = await client.cancelMessages([first.messageId]);
      expect(isAlreadyCancelled(again.results[0].rejected!)).toBe(true);
    });

    describe('when an answer is lost after the gateway committed the call', () => {
      let proxy: AnswerDroppingProxy;
      let throughProxy: MailGatewayClient;

      beforeAll(async () => {
        proxy = await AnswerDroppingProxy.start(gateway.address);
        throughProxy = gateway.connect(TEST_API_KEY, { address: proxy.address });
      });

      afterAll(async () => {
        await proxy?.close();
      });

      it('a cancel is retried and answered FAILED_PRECONDITION "already CANCELLED": the message is cancelled', async () => {
        const { messageId } = await client.send(aMail(), { sendAt: later(HOUR_MS) });

        const dropped = proxy.dropped;
        proxy.dropNextAnswer();
        const error = await refusal(throughProxy.cancelMessage(messageId));

        expect(proxy.dropped).toBe(dropped + 1);
        expect([error.code, error.details]).toEqual([
          status.FAILED_PRECONDITION,
          'the message is already CANCELLED',
        ]);
        expect(isAlreadyCancelled(error)).toBe(true);
        const message = await client.getMessage({ messageId });
        expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
        expect(eventTypes(message)).toEqual([
          MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
          MessageEventType.MESSAGE_EVENT_TYPE_CANCELLED,
        ]);
      });

      it('a batch cancel is retried: the ids cancelled by the lost call come back as already CANCELLED', async () => {
        const sent = [
          await client.send(aMail(), { sendAt: later(HOUR_MS) }),
          await client.send(aMail(), { sendAt: later(HOUR_MS) }),
        ];

        const dropped = proxy.dropped;
        proxy.dropNextAnswer();
        const { results } = await throughProxy.cancelMessages(sent.map(({ messageId }) => messageId));

        expect(proxy.dropped).toBe(dropped + 1);
        expect(results.every(({ rejected }) => rejected && isAlreadyCancelled(rejected))).toBe(true);
        for (const { messageId } of sent) {
          expect((await client.getMessage({ messageId })).status).toBe(
            MessageStatus.MESSAGE_STATUS_CANCELLED,
          );
        }
      });

      it('a reschedule is retried and answers the same time: setting it twice changes nothing more', async () => {
        const { messageId } = await client.send(aMail(), { sendAt: later(HOUR_MS) });
        const moved = later(3 * HOUR_MS);

        const dropped = proxy.dropped;
        proxy.dropNextAnswer();
        const rescheduled = await throughProxy.rescheduleMessage(messageId, moved);

        expect(proxy.dropped).toBe(dropped + 1);
        expect(rescheduled.status).toBe(MessageStatus.MESSAGE_STATUS_SCHEDULED);
        expect(epochMs(rescheduled.sendAt)).toBe(moved.getTime());
        const message = await client.getMessage({ messageId });
        expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_SCHEDULED);
        expect(epochMs(message.sendAt)).toBe(moved.getTime());
        // Both calls were committed: the lost one and its retry.
        expect(eventTypes(message)).toEqual([
          MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
          MessageEventType.MESSAGE_EVENT_TYPE_RESCHEDULED,
          MessageEventType.MESSAGE_EVENT_TYPE_RESCHEDULED,
        ]);
      });
    });
  },
);
