import { status } from '@grpc/grpc-js';
import { GetMessageResponse, ListEventsResponse, SendMailResponse } from '@mailgateway/contracts';
import { RetentionLoop } from '@mailgateway/outbox';
import { aSendMailRequest, DATABASE_KINDS, TEST_API_KEY, waitFor } from '@mailgateway/testing';
import { expectGrpcError } from './support/grpc-assertions';
import { gatewayForAllTests } from './support/test-gateway';
import { WireCaller } from './support/wire-caller';

const HOUR = 3_600_000;

describe.each(DATABASE_KINDS)('Retention on %s', (kind) => {
  // Content goes as soon as a message is final; the history lasts the shortest allowed, an hour,
  // which the suite steps over by running a round with its own clock.
  const gateway = gatewayForAllTests(kind, {
    BODY_RETENTION_MS: '0',
    HISTORY_RETENTION_MS: String(HOUR),
    RETENTION_INTERVAL_MS: '100',
  });
  let wire: WireCaller;
  beforeAll(() => {
    wire = new WireCaller(gateway.address, TEST_API_KEY);
  });
  afterAll(() => wire.close());

  const send = (idempotencyKey: string) =>
    wire.unary<SendMailResponse>('sendMail', aSendMailRequest({ subject: 'Your code' }, idempotencyKey));
  const get = (messageId: string) => wire.unary<GetMessageResponse>('getMessage', { messageId });
  const listEvents = (cursor: string) =>
    wire.unary<ListEventsResponse>('listEvents', { cursor, pageSize: 1000 });

  /** Final and shredded: the background rounds have done with it and hold no lock on it. */
  const shredded = (messageId: string) =>
    waitFor('content_shredded_at', async () => {
      const message = await get(messageId);
      return message.contentShreddedAt ? message : undefined;
    });

  it('shreds a delivered message at once, then after the history retention forgets it and its key', async () => {
    const first = await send(`retention-${kind}`);
    await gateway.finalState(first.messageId);
    const kept = await shredded(first.messageId);
    // Status and events outlive the content.
    expect(kept.events.length).toBeGreaterThan(0);
    await gateway.app.get(RetentionLoop).runRound(Date.now() + HOUR);

    await expectGrpcError(get(first.messageId), status.NOT_FOUND);
    const again = await send(`retention-${kind}`);
    expect(again.replayed).toBe(false);
    expect(again.messageId).not.toBe(first.messageId);
    await gateway.finalState(again.messageId);
    await shredded(again.messageId);
  });

  it('answers a feed cursor that points at purged events OUT_OF_RANGE, naming the cursor', async () => {
    const { messageId } = await send('');
    await gateway.finalState(messageId);
    await shredded(messageId);
    const cursor = await waitFor('the first event in the feed', async () => {
      const page = await wire.unary<ListEventsResponse>('listEvents', { cursor: '', pageSize: 1 });
      return page.events.length > 0 ? page.nextCursor : undefined;
    });

    await gateway.app.get(RetentionLoop).runRound(Date.now() + HOUR);

    await expectGrpcError(listEvents(cursor), status.OUT_OF_RANGE, /cursor/);
    // Starting again from an empty cursor works, after what was purged.
    const fresh = await listEvents('');
    expect(fresh.events.map((event) => event.messageId)).not.toContain(messageId);
  });
});
