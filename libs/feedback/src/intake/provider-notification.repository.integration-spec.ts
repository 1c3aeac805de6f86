import { DATABASE_KINDS, MigratedTestDatabase, openMigratedTestDatabase } from '@mailgateway/testing';
import type { ProviderFeedback } from '../provider-feedback';
import { ProviderNotificationRepository } from './provider-notification.repository';

const feedback = (eventId: string, provider = 'sendgrid'): ProviderFeedback => ({
  provider,
  eventId,
  kind: 'bounce',
  bounceClass: 'hard',
  recipient: 'ada@example.com',
  providerMessageId: 'x-msg-1',
  detail: '550 5.1.1 no such user',
  occurredAt: 1_800_000_000_000,
});

describe.each(DATABASE_KINDS)(`${ProviderNotificationRepository.name} on %s`, (kind) => {
  let database: MigratedTestDatabase;
  let sut: ProviderNotificationRepository;

  beforeAll(async () => {
    database = await openMigratedTestDatabase(kind);
    sut = new ProviderNotificationRepository(database.transactions);
  });
  afterAll(() => database.close());

  it('stores each notification pending, due at once, with its feedback and no processing yet', async () => {
    expect(await sut.store([feedback('e1')], 1_800_000_001_000)).toEqual({ stored: 1, duplicates: 0 });
    const [row] = await database.dataSource.query(
      `SELECT provider, event_id, feedback, state, attempts, next_attempt_at, message_id, received_at, processed_at
         FROM provider_notification WHERE event_id = 'e1'`,
    );
    expect({
      ...row,
      next_attempt_at: Number(row.next_attempt_at),
      received_at: Number(row.received_at),
    }).toEqual({
      provider: 'sendgrid',
      event_id: 'e1',
      feedback: JSON.stringify(feedback('e1')),
      state: 'pending',
      attempts: 0,
      next_attempt_at: 1_800_000_001_000,
      message_id: null,
      received_at: 1_800_000_001_000,
      processed_at: null,
    });
  });

  it('stores a notification once however often it comes, within one request or across requests', async () => {
    expect(await sut.store([feedback('e2'), feedback('e2'), feedback('e3')], 1)).toEqual({
      stored: 2,
      duplicates: 1,
    });
    expect(await sut.store([feedback('e2'), feedback('e4')], 2)).toEqual({ stored: 1, duplicates: 1 });
    expect(await database.count('provider_notification', "event_id IN ('e2', 'e3', 'e4')")).toBe(3);
    const [{ received_at }] = await database.dataSource.query(
      `SELECT received_at FROM provider_notification WHERE event_id = 'e2'`,
    );
    expect(Number(received_at)).toBe(1);
  });

  it('keeps the same event id of two providers apart', async () => {
    expect(await sut.store([feedback('shared', 'postmark'), feedback('shared', 'http')], 3)).toEqual({
      stored: 2,
      duplicates: 0,
    });
  });

  it('stores a batch larger than one statement in one transaction', async () => {
    const many = Array.from({ length: 2500 }, (_, index) => feedback(`bulk-${index}`));
    expect(await sut.store(many, 4)).toEqual({ stored: 2500, duplicates: 0 });
    expect(await database.count('provider_notification', "event_id LIKE 'bulk-%'")).toBe(2500);
  });

  // Replicas share PostgreSQL; SQLite is one process's database.
  if (kind === 'postgres')
    it('stores from two replicas at once without an error and without a duplicate', async () => {
      const replica = await database.openReplica();
      const other = new ProviderNotificationRepository(replica.transactions);
      const batch = Array.from({ length: 50 }, (_, index) => feedback(`race-${index}`));
      const results = await Promise.all([sut.store(batch, 5), other.store(batch, 5)]);
      expect(results[0].stored + results[1].stored).toBe(50);
      expect(await database.count('provider_notification', "event_id LIKE 'race-%'")).toBe(50);
    });
});
