import { status } from '@grpc/grpc-js';
import {
  CancelMessageResponse,
  CancelMessagesResponse,
  GetMessageResponse,
  MessageEventType,
  MessageStatus,
  RescheduleMessageResponse,
  SendMailBatchResponse,
  SendMailResponse,
  Timestamp,
} from '@mailgateway/contracts';
import { DeliveryOutcome } from '@mailgateway/delivery';
import {
  aSendMailRequest,
  DATABASE_KINDS,
  ScriptedDriver,
  TEST_API_KEY,
  waitFor,
} from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests } from './support/test-gateway';
import { WireCaller } from './support/wire-caller';

const at = (epochMs: number): Timestamp => ({
  seconds: Math.floor(epochMs / 1000),
  nanos: (epochMs % 1000) * 1e6,
});
const millis = (timestamp: Timestamp | undefined) => timestamp!.seconds * 1000 + timestamp!.nanos / 1e6;
const DAY = 86_400_000;

describe.each(DATABASE_KINDS)('Scheduled send and cancel on %s', (kind) => {
  /** Attempts of messages whose subject starts with "hold" wait for the test to let them answer. */
  const held = new Map<string, (outcome: DeliveryOutcome) => void>();
  const driver = new ScriptedDriver((message) =>
    message.mail.subject.startsWith('hold')
      ? new Promise<DeliveryOutcome>((resolve) => held.set(message.id, resolve))
      : { kind: 'accepted', providerMessageId: `p-${message.id}` },
  );
  const gateway = gatewayForAllTests(
    kind,
    { MESSAGE_MAX_AGE_MS: '3000', SCHEDULE_MAX_AHEAD_MS: String(2 * DAY) },
    { driver },
  );
  let wire: WireCaller;
  beforeAll(() => {
    wire = new WireCaller(gateway.address, TEST_API_KEY);
  });
  afterAll(() => wire.close());

  const send = (subject: string, sendAt?: number, idempotencyKey = '') =>
    wire.unary<SendMailResponse>('sendMail', {
      ...aSendMailRequest({ subject }, idempotencyKey),
      sendAt: sendAt === undefined ? undefined : at(sendAt),
    });
  const get = (messageId: string) => wire.unary<GetMessageResponse>('getMessage', { messageId });
  const cancel = (messageId: string) => wire.unary<CancelMessageResponse>('cancelMessage', { messageId });
  const finalOf = (messageId: string) =>
    waitFor(`${messageId} final`, async () => {
      const message = await get(messageId);
      const final: MessageStatus[] = [
        MessageStatus.MESSAGE_STATUS_DELIVERED,
        MessageStatus.MESSAGE_STATUS_CANCELLED,
        MessageStatus.MESSAGE_STATUS_EXPIRED,
        MessageStatus.MESSAGE_STATUS_FAILED,
      ];
      return final.includes(message.status) ? message : undefined;
    });
  const types = (message: GetMessageResponse) => message.events.map((event) => event.type);

  it('holds a message with a future send_at SCHEDULED, and sends it once due, its maximum age counted from then', async () => {
    // Due after MESSAGE_MAX_AGE_MS (3 s) has passed since acceptance: counted from acceptance it would expire.
    const sendAt = Date.now() + 3_500;
    const { messageId } = await send('later', sendAt);

    const waiting = await get(messageId);
    expect(waiting.status).toBe(MessageStatus.MESSAGE_STATUS_SCHEDULED);
    expect(millis(waiting.sendAt)).toBe(sendAt);
    expect(driver.callsFor(messageId)).toEqual([]);

    const final = await finalOf(messageId);
    expect(final.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    const started = final.events.find(
      (event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
    )!;
    expect(millis(started.occurredAt)).toBeGreaterThanOrEqual(sendAt);
    expect(driver.callsFor(messageId)).toHaveLength(1);
  });

  it('sends at once for a send_at at or before now, and refuses one beyond SCHEDULE_MAX_AHEAD_MS naming the field', async () => {
    const { messageId } = await send('past', Date.now() - DAY);
    expect((await finalOf(messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);

    await expectGrpcError(
      send('too far', Date.now() + 3 * DAY),
      status.INVALID_ARGUMENT,
      /^send_at: .*SCHEDULE_MAX_AHEAD_MS/,
    );
    await expectGrpcError(
      wire.unary('sendMail', { ...aSendMailRequest(), sendAt: { seconds: 1, nanos: 1e9 } }),
      status.INVALID_ARGUMENT,
      /^send_at: not a valid timestamp/,
    );
    const batch = await wire.unary<SendMailBatchResponse>('sendMailBatch', {
      items: [
        { ...aSendMailRequest({ subject: 'fine' }), sendAt: at(Date.now() + DAY) },
        { ...aSendMailRequest({ subject: 'too far' }), sendAt: at(Date.now() + 3 * DAY) },
      ],
    });
    expect(batch.results[0].accepted).toBeDefined();
    expect(batch.results[1].rejected).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'send_at' });
    await cancel(batch.results[0].accepted!.messageId);
  });

  it('counts send_at as content for idempotency', async () => {
    const sendAt = Date.now() + DAY;
    const first = await send('keyed', sendAt, `schedule-${kind}`);
    const replay = await send('keyed', sendAt, `schedule-${kind}`);

    expect(replay).toMatchObject({ messageId: first.messageId, replayed: true });
    await expectGrpcError(
      send('keyed', sendAt + 1000, `schedule-${kind}`),
      status.INVALID_ARGUMENT,
      /^idempotency_key/,
    );
    await expectGrpcError(
      send('keyed', undefined, `schedule-${kind}`),
      status.INVALID_ARGUMENT,
      /^idempotency_key/,
    );
    await cancel(first.messageId);
  });

  it('reschedules a scheduled message, and to now sends it at once', async () => {
    const { messageId } = await send('moved', Date.now() + DAY);
    const later = Date.now() + 2 * DAY - 60_000;
    const moved = await wire.unary<RescheduleMessageResponse>('rescheduleMessage', {
      messageId,
      sendAt: at(later),
    });
    expect(moved).toMatchObject({ messageId, status: MessageStatus.MESSAGE_STATUS_SCHEDULED });
    expect(millis((await get(messageId)).sendAt)).toBe(later);

    const now = await wire.unary<RescheduleMessageResponse>('rescheduleMessage', {
      messageId,
      sendAt: at(Date.now()),
    });
    expect(now.status).toBe(MessageStatus.MESSAGE_STATUS_QUEUED);
    const final = await finalOf(messageId);
    expect(final.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(
      types(final).filter((type) => type === MessageEventType.MESSAGE_EVENT_TYPE_RESCHEDULED),
    ).toHaveLength(2);

    await expectGrpcError(
      wire.unary('rescheduleMessage', { messageId, sendAt: at(Date.now() + DAY) }),
      status.FAILED_PRECONDITION,
      /already DELIVERED/,
    );
    await expectGrpcError(
      wire.unary('rescheduleMessage', { messageId }),
      status.INVALID_ARGUMENT,
      /^send_at: required/,
    );
  });

  it('cancels a message not yet sent for good, and refuses what is final, foreign or not an id', async () => {
    // Far enough ahead that the cancel lands first even on a loaded machine.
    const sendAt = Date.now() + 3_000;
    const { messageId } = await send('cancel me', sendAt);
    const cancelled = await cancel(messageId);
    expect(cancelled.messageId).toBe(messageId);

    // Well past its send time: it was never handed to the driver.
    await new Promise((resolve) => setTimeout(resolve, sendAt + 1_000 - Date.now()));
    const message = await get(messageId);
    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
    expect(types(message)).toEqual([
      MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      MessageEventType.MESSAGE_EVENT_TYPE_CANCELLED,
    ]);
    expect(driver.callsFor(messageId)).toEqual([]);

    await expectGrpcError(cancel(messageId), status.FAILED_PRECONDITION, /already CANCELLED/);
    const { messageId: sent } = await send('sent');
    await finalOf(sent);
    await expectGrpcError(cancel(sent), status.FAILED_PRECONDITION, /already DELIVERED/);
    const otherKey = await gateway.addSource(`${kind}-other-canceller`, ['mail.send']);
    const other = new WireCaller(gateway.address, otherKey);
    await expectGrpcError(other.unary('cancelMessage', { messageId: sent }), status.NOT_FOUND);
    other.close();
    await expectGrpcError(cancel('not-an-id'), status.INVALID_ARGUMENT, /^message_id: /);
  });

  it('answers a CancelMessages call id by id', async () => {
    const { messageId: waiting } = await send('batch cancel', Date.now() + DAY);
    const { messageId: sent } = await send('batch sent');
    await finalOf(sent);
    const missing = '00000000-0000-4000-8000-000000000000';

    const { results } = await wire.unary<CancelMessagesResponse>('cancelMessages', {
      messageIds: [waiting, sent, missing, 'bad'],
    });

    expect(results.map((result) => result.messageId)).toEqual([waiting, sent, missing, 'bad']);
    expect(results[0].cancelled?.messageId).toBe(waiting);
    expect(results[1].rejected).toMatchObject({ code: 'FAILED_PRECONDITION', field: 'message_ids[1]' });
    expect(results[2].rejected).toMatchObject({ code: 'NOT_FOUND', field: 'message_ids[2]' });
    expect(results[3].rejected).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'message_ids[3]' });
    await expectGrpcError(
      wire.unary('cancelMessages', { messageIds: [] }),
      status.INVALID_ARGUMENT,
      /^message_ids: /,
    );
    await expectGrpcError(
      wire.unary('cancelMessages', { messageIds: Array.from({ length: 1001 }, () => missing) }),
      status.INVALID_ARGUMENT,
      /^message_ids: 1001 ids/,
    );
  });

  it('lets an attempt under way finish, but a cancel during it stops any retry', async () => {
    const { messageId } = await send('hold then fail');
    await waitFor('the attempt to start', async () => (held.has(messageId) ? true : undefined));

    await expectGrpcError(
      cancel(messageId),
      status.FAILED_PRECONDITION,
      /attempt 1 is sending the message now/,
    );
    held.get(messageId)!({ kind: 'retry', reason: 'upstream 503' });

    const final = await finalOf(messageId);
    expect(final.status).toBe(MessageStatus.MESSAGE_STATUS_CANCELLED);
    expect(types(final)).toEqual([
      MessageEventType.MESSAGE_EVENT_TYPE_ACCEPTED,
      MessageEventType.MESSAGE_EVENT_TYPE_ATTEMPT_STARTED,
      MessageEventType.MESSAGE_EVENT_TYPE_CANCEL_REQUESTED,
      MessageEventType.MESSAGE_EVENT_TYPE_CANCELLED,
    ]);
    expect(driver.callsFor(messageId)).toHaveLength(1);
  });

  it('still delivers when the attempt under way at a cancel succeeds', async () => {
    const { messageId } = await send('hold then deliver');
    await waitFor('the attempt to start', async () => (held.has(messageId) ? true : undefined));
    await expectGrpcError(cancel(messageId), status.FAILED_PRECONDITION, /sending the message now/);
    held.get(messageId)!({ kind: 'accepted', providerMessageId: 'p' });

    expect((await finalOf(messageId)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
  });
});
